;; Asks for 3000 initial pages (about 187 MiB), more than the default 128 MiB limit.
(module
  (memory (export "memory") 3000)
  (func (export "handle")))
