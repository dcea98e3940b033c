// swift-tools-version:6.0
// autosam-swift: AutoSAM (frozen SAM encoder + small prompt-free heads) on CPUs, distributed with MPI.
import PackageDescription

/// Release builds: optimise for the build machine's vector units where we know the ISA
/// (the encoder's element-wise kernels rely on AVX2/FMA auto-vectorisation; PLATFORM.md).
#if arch(x86_64)
let fastMath: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))]
#else
let fastMath: [SwiftSetting] = []
#endif
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "autosam-swift",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "autosam", targets: ["autosam"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin system-library wrappers, found through pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // oneDNN for the bfloat16 encoder (no pkg-config file in Debian's libdnnl-dev).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),

        .target(name: "Tensors", dependencies: ["CBLAS", "CMalloc"], swiftSettings: v5 + fastMath),
        .target(name: "Layers", dependencies: ["Tensors", "CDNNL"], swiftSettings: v5 + fastMath),
        .target(name: "TensorFiles", dependencies: ["Tensors"], swiftSettings: v5 + fastMath),
        .target(name: "Collectives", dependencies: ["CMPI", "Tensors"], swiftSettings: v5),
        .target(name: "Optim", dependencies: ["Tensors"], swiftSettings: v5 + fastMath),
        .target(name: "Datasets", dependencies: ["Tensors", "CPNG", "CZlib"], swiftSettings: v5 + fastMath),
        .target(name: "SAM", dependencies: ["Tensors", "Layers", "TensorFiles"], swiftSettings: v5 + fastMath),
        .target(name: "Heads", dependencies: ["Tensors", "Layers", "TensorFiles", "Optim", "SAM", "Collectives"], swiftSettings: v5 + fastMath),
        .target(name: "Metrics", dependencies: ["Tensors"], swiftSettings: v5 + fastMath),
        // Above the model modules, one-way (ARCHITECTURE.md): Config -> Runs -> Embeddings -> Training
        // -> Evaluation -> Baselines -> Experiments -> AutoSAMCLI.
        .target(name: "Config", dependencies: ["TensorFiles"], swiftSettings: v5),
        .target(name: "Runs", dependencies: ["Config", "Tensors", "TensorFiles", "Collectives", "Datasets", "Heads", "Optim", "SAM"],
                swiftSettings: v5 + fastMath),
        .target(name: "Embeddings", dependencies: ["Config", "Tensors", "TensorFiles", "Collectives", "Datasets", "SAM"],
                swiftSettings: v5 + fastMath),
        .target(name: "Training",
                dependencies: ["Config", "Runs", "Embeddings", "Tensors", "Layers", "TensorFiles", "Datasets", "SAM", "Heads",
                               "Optim", "Collectives"],
                swiftSettings: v5 + fastMath),
        .target(name: "Evaluation",
                dependencies: ["Config", "Runs", "Embeddings", "Training", "Tensors", "Layers", "TensorFiles", "Datasets", "Heads",
                               "Metrics", "Collectives"],
                swiftSettings: v5 + fastMath),
        .target(name: "Baselines",
                dependencies: ["Config", "Runs", "Embeddings", "Training", "Evaluation", "Tensors", "Layers", "TensorFiles",
                               "Datasets", "SAM", "Heads", "Metrics", "Optim", "Collectives"],
                swiftSettings: v5 + fastMath),
        .target(name: "Experiments",
                dependencies: ["Config", "Runs", "Embeddings", "Training", "Evaluation", "Baselines", "Tensors", "TensorFiles",
                               "Datasets", "SAM", "Heads", "Metrics", "Collectives"],
                swiftSettings: v5 + fastMath),
        .target(name: "Reports",
                dependencies: ["Config", "Runs", "Evaluation", "Experiments", "Datasets", "Metrics", "TensorFiles"],
                swiftSettings: v5),
        .target(name: "TestSupport", dependencies: ["Tensors", "TensorFiles"],
                resources: [.copy("Fixtures")], swiftSettings: v5),
        .target(name: "AutoSAMCLI",
                dependencies: ["Tensors", "Layers", "TensorFiles", "Datasets", "SAM", "Heads", "Metrics", "Collectives",
                               "Config", "Runs", "Embeddings", "Training", "Evaluation", "Baselines", "Experiments",
                               "Reports",
                               "CMPI", "CPNG", "CZlib",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: v5 + fastMath),
        .executableTarget(name: "autosam", dependencies: ["AutoSAMCLI"], swiftSettings: v5),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "TensorFilesTests", dependencies: ["TensorFiles", "TestSupport"],
                    swiftSettings: v5),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"], swiftSettings: v5),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "TensorFiles"], swiftSettings: v5),
        .testTarget(name: "TrainingTests",
                    dependencies: ["Config", "Runs", "Embeddings", "Training", "Evaluation", "Baselines", "Experiments", "SAM",
                                   "Layers", "TensorFiles", "Collectives", "TestSupport"],
                    swiftSettings: v5),
        .testTarget(name: "SAMTests", dependencies: ["SAM", "Layers", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "HeadsTests", dependencies: ["Heads", "Layers", "Optim", "SAM", "TensorFiles", "Collectives", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "ReportsTests",
                    dependencies: ["Reports", "Config", "Runs", "Evaluation", "Experiments", "Embeddings", "Datasets",
                                   "Metrics", "Collectives", "TestSupport"],
                    swiftSettings: v5),
    ]
)
