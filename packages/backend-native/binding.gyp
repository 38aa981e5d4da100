{
  "targets": [
    {
      "target_name": "trellis_native",
      "sources": [
        "native/addon.cc",
        "native/gemm.cc",
        "native/conv.cc",
        "native/pool.cc",
        "native/bnorm.cc",
        "native/elementwise.cc",
        "native/transpose.cc"
      ],
      "defines": ["TRELLIS_SOURCES_HASH=<!(node native/sources-hash.cjs)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-fexceptions"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-l:libopenblas.so.0", "-fopenmp"]
    }
  ]
}
