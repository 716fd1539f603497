// The playground: the service's own API, from the browser. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const VERDICT_COLOURS = { real: "#0a6b2d", fake: "#b00020", uncertain: "#8a5a00" };
const CAMERA_FPS = 5; // frames sent per second; the server samples what it needs
const JPEG_QUALITY = 0.8;
const AUDIO_RATE = 16000; // the stream protocol's PCM: 16-bit mono at 16 kHz
const AUDIO_BLOCK = 4096; // samples per message (0.26 s)

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
  showVoice(result);
  $("warnings").replaceChildren(...result.warnings.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  const seek = showMedia(result, file);
  showFrames(result, seek);
  $("file-result").hidden = false;
}

// The voice branch's verdict, and each window of speech as a bar (its spoof probability).
function showVoice(result) {
  const audio = result.audio;
  $("voice").hidden = !audio;
  if (!audio) return;
  const verdict = $("voice-verdict");
  verdict.textContent = audio.verdict.replace("_", " ");
  verdict.className = audio.verdict;
  $("voice-detail").textContent = audio.probability === null
    ? `(${audio.speech_s.toFixed(1)} s of speech: under 2 s is too little to judge)`
    : `(spoof probability ${percent(audio.probability)}, ${audio.speech_s.toFixed(1)} s of speech)`;
  $("voice-windows").replaceChildren(...audio.windows.map((window) => {
    const item = document.createElement("li");
    item.style.height = `${Math.max(4, window.probability * 100)}%`;
    item.className = window.probability >= audio.fake_at_or_above ? "fake"
      : window.probability < audio.real_below ? "real" : "uncertain";
    item.title = `${window.start_s.toFixed(1)}–${window.end_s.toFixed(1)} s: ` +
      `${percent(window.probability)}`;
    item.setAttribute("aria-label", item.title);
    return item;
  }));
}

// Shows the file with its faces outlined; for a video, gives back a function that shows a time.
function showMedia(result, file) {
  const url = URL.createObjectURL(file);
  const image = $("preview-image");
  const video = $("preview-video");
  const sound = $("preview-audio");
  const isImage = result.media.type === "image";
  sound.hidden = result.media.type !== "audio";
  if (!sound.hidden) {
    image.hidden = video.hidden = true;
    sound.src = url;
    return null;
  }
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
  // With the microphone where there is one; a camera alone otherwise.
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
    .catch(() => navigator.mediaDevices.getUserMedia({ video: true, audio: false }))
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
  const microphone = sendMicrophone(stream, socket);
  socket.onmessage = (message) => showEvent(JSON.parse(message.data));
  socket.onclose = (closed) => stopCamera(closed.reason || "the stream ended");
  camera = { stream, socket, timer, microphone };
  $("live-voice").textContent = microphone ? "no speech yet" : "no microphone";
  $("camera-start").disabled = true;
  $("camera-stop").disabled = false;
  $("live-state").textContent = "connecting";
}

// Sends the microphone as the protocol's audio messages: the float64 time of the first sample
// (counted in samples sent), "PCM1", then 16-bit little-endian PCM at 16 kHz.
function sendMicrophone(stream, socket) {
  if (!stream.getAudioTracks().length) return null;
  const context = new AudioContext({ sampleRate: AUDIO_RATE });
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(AUDIO_BLOCK, 1, 1);
  let sent = 0;
  processor.onaudioprocess = (event) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    const samples = event.inputBuffer.getChannelData(0);
    const message = new DataView(new ArrayBuffer(12 + samples.length * 2));
    message.setFloat64(0, sent / AUDIO_RATE, false);
    [..."PCM1"].forEach((c, i) => message.setUint8(8 + i, c.charCodeAt(0)));
    samples.forEach((s, i) => message.setInt16(12 + 2 * i,
      Math.max(-32768, Math.min(32767, Math.round(s * 32767))), true));
    socket.send(message.buffer);
    sent += samples.length;
  };
  source.connect(processor);
  processor.connect(context.destination);
  return context;
}

function stopCamera(reason) {
  if (!camera) return;
  clearInterval(camera.timer);
  camera.microphone?.close();
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
  if (event.type === "voice") {
    $("live-voice").textContent = event.state.toUpperCase();
    $("live-voice").className = event.state;
    $("live-voice-score").textContent =
      `(spoof score ${percent(event.score)}, last 3 s: ${percent(event.probability)})`;
  }
  if (event.type === "alert") {
    const item = document.createElement("li");
    item.textContent = `${event.time_s.toFixed(1)} s: ${event.message}`;
    $("alerts").prepend(item);
  }
  if (event.type === "error") $("live-counters").textContent += ` – ${event.message}`;
}
