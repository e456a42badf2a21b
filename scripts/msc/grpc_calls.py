"""gRPC calls made from inside a cluster, like msc/http_calls.py: this file's source runs as `python -c` in a
client pod whose image has grpcio and the protocol's stubs (msc.stack.grpc_client_objects): the iris-model image
(seldon-core 1.17.1's `seldon.protos.Seldon` stubs) or the mlserver-iris image (MLServer's
`inference.GRPCInferenceService` stubs).

argv: PROTOCOL (seldon | v2) TARGET (host:port) MODEL (v2 model name; ignored for seldon) ROWS (JSON list of
rows); prints the answer as JSON (a SeldonMessage, or MLServer's InferenceResponse)."""
import json
import sys

import grpc


def seldon(target: str, rows: list) -> str:
    from google.protobuf import json_format
    from seldon_core.proto import prediction_pb2, prediction_pb2_grpc
    stub = prediction_pb2_grpc.SeldonStub(grpc.insecure_channel(target))
    request = json_format.ParseDict({"data": {"ndarray": rows}}, prediction_pb2.SeldonMessage())
    return json_format.MessageToJson(stub.Predict(request, timeout=60))


def v2(target: str, model: str, rows: list) -> str:
    from mlserver.grpc import dataplane_pb2 as pb, dataplane_pb2_grpc
    from mlserver.grpc.converters import ModelInferResponseConverter
    stub = dataplane_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(target))
    tensor = pb.ModelInferRequest.InferInputTensor(name="input-0", datatype="FP64", shape=[len(rows), len(rows[0])],
                                                   contents=pb.InferTensorContents(fp64_contents=sum(rows, [])))
    reply = stub.ModelInfer(pb.ModelInferRequest(model_name=model, inputs=[tensor]), timeout=60)
    return ModelInferResponseConverter.to_types(reply).model_dump_json()


if __name__ == "__main__":
    protocol, target, model, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    print(seldon(target, rows) if protocol == "seldon" else v2(target, model, rows))
