#!/usr/bin/env bash
# Rebuild and re-measure every committed model; the model cards are rendered from the results.
# Usage: bash tools/quantize/rebuild.sh [--skip-emotion]     (S=path/to/shared, default ../shared)
set -euo pipefail
cd "$(dirname "$0")/../.."
S="${PPT_EDGE_SHARED:-../shared}"
M=models/quantized
Q="python3 -m tools.quantize"
GOOGLE=$S/models/movenet/lite-model_movenet_singlepose_lightning_tflite_int8_4.tflite
mkdir -p build/quantize

for v in lightning thunder; do
  $Q movenet --variant $v --source $S/models/tfjs/movenet-$v.json --calib $S/data/images $S/data/videos \
      --out $M/movenet_${v}_int8.tflite --float-out build/quantize/movenet_${v}_float32.tflite --manifest $M/manifest.json
done
if [ "${1:-}" != "--skip-emotion" ]; then
  # 100 min of float training (cosine over the clock, bfloat16 compute), then 30 epochs of distilled
  # pruning (~12 min); progress on stderr, one line per epoch; the manifest records how many epochs
  # fitted. To redo only the pruning: add --from-float build/quantize/emotion_float32.tflite
  nice -n 10 $Q emotion --train $S/data/fer2013/train.npz --val $S/data/fer2013/public_test.npz \
      --out $M/emotion_int8.tflite --minutes 100 --bf16 --prune-epochs 30 --manifest $M/manifest.json
fi

VIDEOS="--video $S/data/videos/tfjs_pose_squats.mp4 --video $S/data/videos/slp_webcam_test_video.mp4"
$Q evaluate-pose --float $S/models/tfjs/movenet-lightning.json --variant lightning \
    --int8 ours=$M/movenet_lightning_int8.tflite --int8 google_int8=$GOOGLE \
    --images $S/data/images $VIDEOS --manifest $M/manifest.json
$Q evaluate-pose --float $S/models/tfjs/movenet-thunder.json --variant thunder \
    --int8 ours=$M/movenet_thunder_int8.tflite --images $S/data/images $VIDEOS --manifest $M/manifest.json
$Q holdout-pose --variant lightning --source $S/models/tfjs/movenet-lightning.json \
    --a $S/data/images --b $S/data/videos --reference $GOOGLE --manifest $M/manifest.json --entry movenet_lightning_int8.tflite
$Q holdout-pose --variant thunder --source $S/models/tfjs/movenet-thunder.json \
    --a $S/data/images --b $S/data/videos --manifest $M/manifest.json --entry movenet_thunder_int8.tflite
$Q evaluate-emotion --model $S/models/tfjs/emotion.json --data $S/data/fer2013/public_test.npz \
    --manifest $M/manifest.json --stage baseline
$Q latency --model ours=$M/movenet_lightning_int8.tflite --model google_int8=$GOOGLE \
    --model float32=build/quantize/movenet_lightning_float32.tflite --rounds 100 --manifest $M/manifest.json
$Q latency --model ours=$M/movenet_thunder_int8.tflite --model float32=build/quantize/movenet_thunder_float32.tflite \
    --rounds 40 --manifest $M/manifest.json
$Q latency --model ours=$M/emotion_int8.tflite --model float32=build/quantize/emotion_float32.tflite \
    --rounds 200 --manifest $M/manifest.json
# Face landmark + iris: rebuilt from MediaPipe's flatbuffers, int8 / dynamic-range int8 / float16 measured
# against the source on held-out crops; calibration (webcam clip, FER2013 faces) and evaluation (photos,
# squats, seated clip) share no file. Needs the lightning model above (it finds the faces).
$Q face --landmark $S/models/face/face_landmark.tflite --iris $S/models/face/iris_landmark.tflite \
    --calib-video $S/data/videos/slp_webcam_test_video.mp4 --calib-fer $S/data/fer2013/public_test.npz \
    --images $S/data/images --video $S/data/videos/tfjs_pose_squats.mp4 \
    --video $S/data/videos/seated/raga_3people_seated.mp4 --out-dir $M --manifest $M/manifest.json
# the faces the runtime's emotion model really reads, and their framing against FER2013
$Q emotion-crops --images $S/data/images --videos $S/data/videos --fer $S/data/fer2013/public_test.npz \
    --landmarks $S/models/face/face_landmark.tflite --out $M/emotion_crops.png --manifest $M/manifest.json
$Q cards --manifest $M/manifest.json
