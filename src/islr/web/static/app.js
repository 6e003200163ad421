// islr live page: camera → MediaPipe Holistic (in this page) → landmarks posted to the Python server, which turns
// them into asl-signs frames and answers with the model (islr.web.session). Nothing here decides what a sign is:
// the page draws the landmarks and shows the server's answers.
"use strict";

const $ = (id) => document.getElementById(id);
const video = $("video"), canvas = $("canvas"), ctx = canvas.getContext("2d");
// What the page has done so far; read by the tests and benchmarks/bench_web.py.
const stats = window.islrStats = {
  processed: 0, withHands: 0, sent: 0, answers: 0, startedAt: null, error: null, lastStatus: null,
  fps() { return this.startedAt && this.processed > 1 ? (this.processed - 1) / ((performance.now() - this.startedAt) / 1000) : 0; },
};

async function call(path, body) {
  const init = body === undefined ? { method: "GET" } :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(`${path}: ${data.error || response.status}`);
  return data;
}

function fail(message) {
  stats.error = message;
  const status = $("status");
  status.textContent = message;
  status.classList.add("error");
}

// ---- the answer panels ----------------------------------------------------------------------------------------
let STATE_TEXT = {};  // what each answer state says: islr.answer.STATE_TEXT, from /config

function valueText(p) {
  return `${(100 * p).toFixed(0)} %`;
}

function showAnswer(prefix, answer) {
  const headline = $(`${prefix}-headline`), score = $(`${prefix}-score`), list = $(`${prefix}-top`);
  headline.className = `headline ${answer.state}`;
  headline.textContent = answer.state === "sign" ? answer.sign : (STATE_TEXT[answer.state] || answer.state);
  if (answer.state === "sign") {
    score.textContent = `probability ${valueText(answer.p)}${answer.calibrated ? "" : " (uncalibrated)"}`;
  } else {
    score.textContent = answer.state === "unknown" && answer.reason ? answer.reason : "";
  }
  list.replaceChildren(...(answer.top || []).map((t, i) => {
    const li = document.createElement("li"), value = document.createElement("span");
    li.textContent = (answer.state === "unknown" && i === 0 ? "guess: " : "") + t.sign;
    value.textContent = valueText(t.p);
    li.appendChild(value);
    return li;
  }));
}

function showStatus(s) {
  stats.lastStatus = s;
  stats.answers = s.answers;
  showAnswer("live", s.update);
  const fps = stats.fps().toFixed(1);
  $("status").textContent = `Holistic ${fps} frames/s · ${s.received} frames sent, hands in ${s.hand_frames}` +
    (s.recording ? ` · recording: ${s.take_frames} frames` : "");
}

// ---- sending landmarks: one request in flight, the frames that arrive meanwhile go in the next batch ------------
let queue = [], flushing = false, queued = 0, handled = 0;

function enqueue(frame) {
  queue.push(frame);
  queued += 1;
  if (!flushing) {
    flushing = true;
    flush().finally(() => { flushing = false; });
  }
}

async function flush() {
  while (queue.length) {
    const batch = queue.splice(0, 64);
    try {
      showStatus(await call("frames", { frames: batch }));
      stats.sent += batch.length;
    } catch (err) {
      fail(`the server did not take the landmarks: ${err.message}`);
    }
    handled += batch.length;
  }
}

async function drain() {
  // Until every frame queued so far has been answered (new frames keep arriving: do not wait for an empty queue).
  const target = queued;
  while (handled < target) await new Promise((r) => setTimeout(r, 10));
}

// ---- the take: every frame between Start and Stop, scored as one recording --------------------------------------
let recording = false;

async function toggleTake() {
  const button = $("take");
  button.disabled = true;
  try {
    if (!recording) {
      await drain();
      await call("take/start", {});
      recording = true;
      $("take-state").textContent = "recording… sign, then Stop";
    } else {
      await drain();  // the frames already seen belong to the take
      recording = false;
      const take = await call("take/stop", {});
      $("take-panel").hidden = false;
      $("take-caption").textContent = `whole take · ${take.frames} frames`;
      $("take-path").textContent = take.path ? `saved: ${take.path}` : "";
      showAnswer("take", take);
      $("take-state").textContent = "sign between Start and Stop: the whole take is scored";
    }
  } catch (err) {
    fail(`take: ${err.message}`);
  }
  button.textContent = recording ? "Stop take" : "Start take";
  button.classList.toggle("recording", recording);
  button.disabled = false;
}

// ---- drawing ----------------------------------------------------------------------------------------------------
// Colours of islr.live.draw: pose green, left hand blue, right hand orange, lips red.
function drawEdges(points, edges, colour, width) {
  if (!points) return;
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.beginPath();
  for (const [a, b] of edges) {
    ctx.moveTo(points[a].x * canvas.width, points[a].y * canvas.height);
    ctx.lineTo(points[b].x * canvas.width, points[b].y * canvas.height);
  }
  ctx.stroke();
}

function draw(results) {
  if (canvas.width !== video.videoWidth) {
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
  }
  ctx.drawImage(results.image, 0, 0, canvas.width, canvas.height);
  const w = Math.max(2, canvas.width / 320);
  drawEdges(results.poseLandmarks, window.POSE_CONNECTIONS, "rgb(0,160,0)", w);
  drawEdges(results.leftHandLandmarks, window.HAND_CONNECTIONS, "rgb(0,120,200)", w);
  drawEdges(results.rightHandLandmarks, window.HAND_CONNECTIONS, "rgb(255,140,0)", w);
  drawEdges(results.faceLandmarks, window.FACEMESH_LIPS, "rgb(220,0,0)", w / 2);
}

// ---- landmarks → the server's payload (parts as in islr.landmarks.PARTS; null: not detected) ---------------------
const xyz = (points) => (points ? points.map((p) => [p.x, p.y, p.z]) : null);

function onResults(results) {
  if (stats.startedAt === null) stats.startedAt = performance.now();
  stats.processed += 1;
  if (results.leftHandLandmarks || results.rightHandLandmarks) stats.withHands += 1;
  draw(results);
  enqueue({ face: xyz(results.faceLandmarks), left_hand: xyz(results.leftHandLandmarks),
            pose: xyz(results.poseLandmarks), right_hand: xyz(results.rightHandLandmarks) });
}

async function run() {
  let config;
  try {
    config = await call("config");
  } catch (err) {
    fail(`the server is not reachable: ${err.message}`);
    return;
  }
  STATE_TEXT = config.state_text;
  $("window").textContent = config.window;
  $("knows").textContent = config.knows;
  if (!window.Holistic) {
    fail("MediaPipe Holistic did not load (mediapipe/holistic.js): run `islr live --web --setup`");
    return;
  }
  const holistic = new window.Holistic({ locateFile: (file) => `mediapipe/${file}` });
  holistic.setOptions(config.holistic);
  holistic.onResults(onResults);
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    await video.play();
  } catch (err) {
    fail(`no camera: ${err.name}: ${err.message}. The page needs permission to use the camera (in a notebook, ` +
         "an output frame allowed to use it).");
    return;
  }
  try {
    await holistic.initialize();
  } catch (err) {
    fail(`MediaPipe Holistic failed to start: ${err.message || err}`);
    return;
  }
  $("take").disabled = false;
  $("status").textContent = "camera on: waiting for the first landmarks…";
  for (;;) {
    if (video.readyState >= 2 && video.videoWidth) {
      await holistic.send({ image: video });
    } else {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 0));  // let the page draw and answer between two frames
  }
}

$("take").addEventListener("click", toggleTake);
$("mirror").addEventListener("change", (e) => $("stage").classList.toggle("mirrored", e.target.checked));
$("stage").classList.toggle("mirrored", $("mirror").checked);
run();
