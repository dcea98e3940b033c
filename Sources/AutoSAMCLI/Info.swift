import ArgumentParser
import CMPI
import CPNG
import CZlib
import Layers
import Foundation
import Tensors

/// `autosam info`: the native libraries this build runs on.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the OpenBLAS kernels and threads, MPI, libpng and zlib versions in use."
    )

    func run() throws {
        print("OpenBLAS core:    \(BLASRuntime.selection)")
        print("OpenBLAS threads: \(BLASRuntime.threads)")
        let spin = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"].map { "2^\($0)" } ?? "default"
        print("OpenBLAS idle:    workers spin \(spin) cycles before sleeping (OPENBLAS_THREAD_TIMEOUT)")
        print("bf16 encoder:     \(BFloat16Linear.support)")
        let products = EncoderAttention.oneDNNProducts ? "oneDNN float32 (AVX-512)" : "OpenBLAS"
        print("encoder attention: per-head products through \(products)")
        let wait = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "unset (libgomp spins a while)"
        print("OpenMP idle:      OMP_WAIT_POLICY=\(wait) (oneDNN's workers; launch.sh sets PASSIVE)")
        print("MPI library:      \(mpiLibraryVersion())")
        print("libpng:           \(String(cString: png_get_libpng_ver(nil)))")
        print("zlib:             \(String(cString: zlibVersion()))")
    }

    private func mpiLibraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING))
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == autosam_mpi_success() else { return "unknown" }
        let text = String(cString: buffer)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}
