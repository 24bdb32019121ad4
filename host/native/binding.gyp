{
  "targets": [
    {
      "target_name": "wstor_native",
      "sources": ["src/addon.c", "src/affinity.c", "src/args.c", "src/copy.c", "src/crc32c.c", "src/file.c", "src/guard.c", "src/guestmem.c", "src/uring.c", "src/uring_sleep.c", "src/tcp.c", "src/vhost.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
