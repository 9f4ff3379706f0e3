;; Imports a function the classic ABI does not provide.
(module
  (import "env" "launch_missiles" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "handle")))
