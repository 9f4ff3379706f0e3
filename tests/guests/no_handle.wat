;; Exports no `handle`.
(module
  (memory (export "memory") 1)
  (func (export "serve")))
