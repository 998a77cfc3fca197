//! Generates the gRPC code and the file descriptor set (for server reflection) from the proto.
//! `protoc` comes from `protoc-bin-vendored` unless `PROTOC` names another one, so a fresh
//! machine builds without installing protobuf.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    let proto = PathBuf::from("proto/hotline/gateway/v1/gateway.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join("hotline_gateway_v1_descriptor.bin"))
        .compile_with_config(
            config,
            &[proto],
            &[PathBuf::from("proto"), protoc_bin_vendored::include_path()?],
        )?;
    Ok(())
}
