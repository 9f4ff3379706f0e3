;; Imports `env.log` with the wrong type (sizes are i64 in the classic ABI).
(module
  (import "env" "log" (func (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "handle")))
