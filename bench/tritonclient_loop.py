"""The pipeline a user would otherwise write: the official tritonclient (gRPC or HTTP),
cv2/numpy letterbox and a numpy + cv2.dnn.NMSBoxes decode of a YOLOv8 head, in a loop.
Run by bench/transport.ts with the Python tier's .venv against the same instant stub.

    python tritonclient_loop.py grpc|http PORT COUNT IMAGE.jpg

Prints one line of JSON: images/s and CPU ms per image (all threads of this process).
"""
import json
import resource
import sys
import time

import numpy as np

try:
    import cv2
except ImportError:
    print(json.dumps({"skip": "cv2 is missing from .venv: .venv/bin/pip install opencv-python-headless"}))
    sys.exit(0)

SIZE = 640


def preprocess(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    r = min(SIZE / h, SIZE / w)
    nw, nh = round(w * r), round(h * r)
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    img = cv2.copyMakeBorder(
        img, top, SIZE - nh - top, left, SIZE - nw - left, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )
    x = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(x)


def postprocess(head: np.ndarray) -> int:
    p = head[0]
    scores = p[4:].max(0)
    keep = scores > 0.25
    b = p[:4, keep].T
    xywh = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], 1)
    return len(cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), 0.25, 0.45))


def main() -> None:
    proto, port, count, image = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if proto == "grpc":
        import tritonclient.grpc as tc
    else:
        import tritonclient.http as tc
    client = tc.InferenceServerClient(f"127.0.0.1:{port}")
    jpeg = open(image, "rb").read()
    binary = {} if proto == "grpc" else {"binary_data": True}

    def once() -> int:
        x = preprocess(jpeg)
        inp = tc.InferInput("images", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, **binary)
        out = tc.InferRequestedOutput("output0", **binary)
        res = client.infer("yolov8n", [inp], outputs=[out])
        return postprocess(res.as_numpy("output0"))

    for _ in range(3):
        once()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    found = 0
    for _ in range(count):
        found += once()
    secs = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"perSecond": count / secs, "cpuMs": cpu * 1000 / count, "found": found / count}))


if __name__ == "__main__":
    main()
