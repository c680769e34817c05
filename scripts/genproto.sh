#!/usr/bin/env bash
# Regenerates the Go code of every .proto under rpc/proto with protoc and the
# plugin versions pinned in go.mod (tool directives). CI runs it and fails
# when the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "genproto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
# The well-known types (google/protobuf/timestamp.proto): beside protoc, or
# where Debian's libprotobuf-dev puts them.
wkt=""
for d in "$(dirname "$(command -v protoc)")/../include" /usr/include /usr/local/include; do
  if [ -f "$d/google/protobuf/timestamp.proto" ]; then wkt="$d"; break; fi
done
[ -n "$wkt" ] || { echo "genproto: google/protobuf/timestamp.proto not found (apt-get install libprotobuf-dev)" >&2; exit 1; }
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
module=github.com/rosterhq/roster
for proto in $(cd rpc/proto && find . -name '*.proto' | sort); do
  PATH="$bin:$PATH" protoc -I rpc/proto -I "$wkt" \
    --go_out=. --go_opt=module=$module \
    --go-grpc_out=. --go-grpc_opt=module=$module \
    "rpc/proto/${proto#./}"
done
