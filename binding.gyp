{
  "targets": [
    {
      "target_name": "gptforge_native",
      "sources": ["native/addon.c", "native/pool.c", "native/isa.c", "native/sgemm.c", "native/ops.c", "native/attention.c", "native/qmatmul.c", "native/qmatmul_q8.c", "native/sample.c"],
      "cflags_c": ["-std=gnu11", "-O3", "-fvisibility=hidden", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-funroll-loops", "-Wall", "-Wno-unused-parameter"],
      "cflags!": ["-O2", "-O0"],
      "ldflags": ["-pthread"],
      "libraries": ["-lpthread", "-lm"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-std=gnu11", "-fopenmp-simd"] }
    }
  ]
}
