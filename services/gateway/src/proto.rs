//! The generated gRPC code (`proto/hotline/gateway/v1/gateway.proto`, package
//! `hotline.gateway.v1`) and its file descriptor set for server reflection.
#![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs)]

tonic::include_proto!("hotline.gateway.v1");

/// The encoded `FileDescriptorSet` (with imports), served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("hotline_gateway_v1_descriptor");
