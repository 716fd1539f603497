// The playground: the service's own API, from the browser. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const VERDICT_COLOURS = { real: "#0a6b2d", fake: "#b00020", uncertain: "#8a5a00" };
const CAMERA_FPS = 5; // frames sent per second; the server samples what it needs
const JPEG_QUALITY = 0.8;

function apiKey() { return $("api-key").value.trim(); }
function authHeaders() { return apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {}; }
function percent(p) { return p === null || p === undefined ? "–" : `${Math.round(p * 100)}%`; }
function verdictFor(p, result) {
  if (p === null || p === undefined) return "no_face";
  if (p >= result.settings.fake_at_or_above) return "fake";
  if (p < result.settings.real_below) return "real";
  return "uncertain";
}

// ---- files ----

$("file-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file-input").files[0];
  if (!file) return;
  const status = $("file-status");
  status.textContent = `Analysing ${file.name}…`;
  $("file-submit").disabled = true;
  $("file-result").hidden = true;
  const body = new FormData();
  body.append("file", file);
  try {
    // With thumbnails: the faces behind the timeline (why.js).
    const response = await fetch("/v1/analyze?thumbnails=true",
                                 { method: "POST", body, headers: authHeaders() });
    const payload = await response.json();
    if (!response.ok) {
      status.textContent = `Error ${response.status}: ${payload.error?.message ?? "unknown"}`;
      return;
    }
    status.textContent = `Analysed ${file.name} in ${Math.round(payload.timings.total_ms)} ms.`;
    showResult(payload, file);
  } catch (error) {
    status.textContent = `The request failed: ${error}`;
  } finally {
    $("file-submit").disabled = false;
  }
});

function showResult(result, file) {
  const verdict = $("verdict");
  verdict.textContent = result.verdict.replace("_", " ");
  verdict.className = result.verdict;
  const branches = Object.entries(result.branches);
  $("probability").textContent = result.probability === null ? "" :
    `(fake probability ${percent(result.probability)}` + (branches.length > 1
      ? `; ${branches.map(([name, p]) => `${name} ${percent(p)}`).join(", ")})` : ")");
  showReading(result);

  const timeline = $("timeline");
  timeline.replaceChildren(...result.segments.map((segment) => {
    const item = document.createElement("li");
    const p = segment.probability;
    item.style.height = `${p === null ? 2 : Math.max(4, p * 100)}%`;
    item.className = verdictFor(p, result);
    item.title = `${segment.start_s.toFixed(1)}–${segment.end_s.toFixed(1)} s: ${percent(p)}`;
    item.setAttribute("aria-label", item.title);
    return item;
  }));

  showPeople(result);
  $("warnings").replaceChildren(...result.warnings.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  const seek = showMedia(result, file);
  showFrames(result, seek);
  $("file-result").hidden = false;
}

// Shows the file with its faces outlined; for a video, gives back a function that shows a time.
function showMedia(result, file) {
  const url = URL.createObjectURL(file);
  const image = $("preview-image");
  const video = $("preview-video");
  const isImage = result.media.type === "image";
  image.hidden = !isImage;
  video.hidden = isImage;
  const faces = result.segments.flatMap((segment) => segment.faces);
  const draw = (time) => drawBoxes(result, faces.filter(
    (face) => isImage || Math.abs(face.time_s - time) < result.media.duration_s / 64 + 0.05));
  if (isImage) {
    image.onload = () => draw(0);
    image.src = url;
  } else {
    video.src = url;
    video.ontimeupdate = () => draw(video.currentTime);
    video.onloadeddata = () => { if (faces.length) video.currentTime = faces[0].time_s; };
    return (time) => {
      video.pause();
      video.currentTime = time;
      video.scrollIntoView({ block: "nearest" });
    };
  }
  return null;
}

function drawBoxes(result, faces) {
  const svg = $("boxes");
  svg.setAttribute("viewBox", `0 0 ${result.media.width} ${result.media.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren(...faces.map((face) => {
    const [x1, y1, x2, y2] = face.box;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", x1); rect.setAttribute("y", y1);
    rect.setAttribute("width", x2 - x1); rect.setAttribute("height", y2 - y1);
    rect.setAttribute("fill", "none");
    rect.setAttribute("stroke", VERDICT_COLOURS[verdictFor(face.probability, result)] ?? "#444");
    rect.setAttribute("stroke-width", Math.max(2, result.media.width / 300));
    return rect;
  }));
}

// ---- live webcam ----

let camera = null;

$("camera-start").addEventListener("click", startCamera);
$("camera-stop").addEventListener("click", () => stopCamera("stopped"));

async function startCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false })
    .catch((error) => { $("live-state").textContent = `no camera: ${error.message}`; });
  if (!stream) return;
  const video = $("camera");
  video.srcObject = stream;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = apiKey() ? `?api_key=${encodeURIComponent(apiKey())}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/streams${query}`);
  socket.binaryType = "arraybuffer";
  const canvas = document.createElement("canvas");
  const started = performance.now();
  let sending = false;
  const timer = setInterval(() => {
    if (socket.readyState !== WebSocket.OPEN || sending || !video.videoWidth) return;
    sending = true;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(async (blob) => {
      const header = new DataView(new ArrayBuffer(8));
      header.setFloat64(0, (performance.now() - started) / 1000, false);
      socket.send(new Blob([header.buffer, blob]));
      sending = false;
    }, "image/jpeg", JPEG_QUALITY);
  }, 1000 / CAMERA_FPS);
  socket.onmessage = (message) => showEvent(JSON.parse(message.data));
  socket.onclose = (closed) => stopCamera(closed.reason || "the stream ended");
  camera = { stream, socket, timer };
  $("camera-start").disabled = true;
  $("camera-stop").disabled = false;
  $("live-state").textContent = "connecting";
}

function stopCamera(reason) {
  if (!camera) return;
  clearInterval(camera.timer);
  camera.stream.getTracks().forEach((track) => track.stop());
  if (camera.socket.readyState === WebSocket.OPEN) camera.socket.close(1000);
  camera = null;
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  $("live-state").textContent = `stopped (${reason})`;
}

function showEvent(event) {
  $("live-counters").textContent =
    `${event.frames_analysed} frames analysed, ${event.frames_dropped} dropped`;
  if (event.type === "started") $("live-state").textContent = "no face yet";
  if (event.type === "scores") {
    const worst = event.people.reduce((a, b) => (!a || b.score > a.score ? b : a), null);
    $("live-state").textContent = worst ? worst.state.toUpperCase() : "no face";
    $("live-state").className = worst ? worst.state : "";
    $("live-score").textContent = worst ? `(score ${percent(worst.score)})` : "";
  }
  if (event.type === "alert") {
    const item = document.createElement("li");
    item.textContent = `${event.time_s.toFixed(1)} s: ${event.message}`;
    $("alerts").prepend(item);
  }
  if (event.type === "error") $("live-counters").textContent += ` – ${event.message}`;
}
