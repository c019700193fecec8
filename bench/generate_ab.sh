#!/usr/bin/env bash
# Two `jslm` binaries, alternated, on the whole generation path (`jslm generate`: sampling as
# the model card, streaming, stop checks), not only the network as `jslm bench` times it.
#   bench/generate_ab.sh OLD_BINARY NEW_BINARY [MODEL] [REPS]
# One generation each per rep (64 new tokens, seed = rep, 2 threads), 5 s apart; prints each
# run's decode tokens/s and TTFT. MODEL defaults to the random-weight 7B Q4_K_M of
# bench/compare_llama_cpp.sh. Alternate the order between calls: the first of a pair tends to
# run a little faster on a shared VM.
set -euo pipefail
old=$1 new=$2
model=${3:-target/bench/models/random-7b-q4_k_m-llama-quantize.gguf}
reps=${4:-3}
cd "$(dirname "$0")/.."
for rep in $(seq 1 "$reps"); do
  for name in old new; do
    binary=${!name}
    last=$("$binary" generate --model "$model" --tokenizer tests/fixtures/tokenizer/tokenizer.json \
      --instruction "日本の四季について説明してください。" --max-new-tokens 64 --seed "$rep" \
      --threads 2 --json 2>/dev/null | tail -1)
    python3 -c 'import json, sys
r = json.loads(sys.argv[1]); s = r["stats"]
print(sys.argv[2], sys.argv[3], r["stop_reason"], s["generated_tokens"],
      "decode %.2f tok/s" % s["decode_tokens_per_s"], "ttft %d ms" % s["ttft_ms"])' "$last" "$name" "$rep"
    sleep 5
  done
done
