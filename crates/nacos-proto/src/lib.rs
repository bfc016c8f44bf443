//! The Nacos gRPC SDK protocol, generated from `proto/nacos_grpc_service.proto` (no package: the
//! SDKs call `/Request/request` and `/BiRequestStream/requestBiStream`). Every request and
//! response is a `Payload`: a type name in its metadata and a JSON body.
#![allow(clippy::all, clippy::pedantic, non_camel_case_types)]

tonic::include_proto!("_");
