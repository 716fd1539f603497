// Why a file's verdict is what it is: each branch's score per person, the faces behind the
// timeline (the result's thumbnails), and a plain reading of an uncertain or no-face verdict.
// Uses app.js's helpers ($, percent, verdictFor).
"use strict";

const BRANCH_LABELS = { face: "Face branch", frequency: "Frequency branch" };

function branchLabel(branch) { return BRANCH_LABELS[branch] ?? `${branch} branch`; }
// Thresholds can be tiny (a calibrated real threshold of 0.00007): two significant digits.
function threshold(p) { return `${Number((p * 100).toPrecision(2))}%`; }
function atTime(result, time) {
  return result.media.type === "video" ? ` at ${time.toFixed(1)} s` : "";
}

function cellOf(tag, text) {
  const cell = document.createElement(tag);
  cell.textContent = text;
  return cell;
}

// ---- branches ----

function showPeople(result) {
  const branches = result.model.branches;
  const head = ["Person", "Verdict", "Probability", ...branches.map(branchLabel), "Frames"];
  $("people-head").replaceChildren(...head.map((text) => {
    const cell = cellOf("th", text);
    cell.scope = "col";
    return cell;
  }));
  $("people").replaceChildren(...result.people.map((person) => {
    const row = document.createElement("tr");
    const verdict = cellOf("td", person.verdict.replace("_", " "));
    verdict.className = person.verdict;
    row.append(cellOf("td", `#${person.track_id}`), verdict,
               cellOf("td", percent(person.probability)));
    for (const branch of branches) {
      const cell = cellOf("td", percent(person.branches[branch]));
      cell.dataset.branch = branch;
      row.append(cell);
    }
    row.append(cellOf("td", String(person.frames)));
    return row;
  }));
  // One branch: its column repeats the probability, so say why rather than hide it.
  $("branches-note").textContent = branches.length > 1
    ? `Each branch's own score; the probability fuses them (${result.model.fusion ?? "fusion"}).`
    : `Only the ${branches[0]} branch ran on this server, so its score is the probability; ` +
      "with more branches (configs/ensemble.yaml adds the frequency branch) each has a column.";
}

// ---- the faces behind the timeline ----

function showFrames(result, seek) {
  const thumbnails = result.thumbnails ?? [];
  const frames = $("frames");
  // One column per segment, as wide as its bar in the timeline above.
  frames.style.gridTemplateColumns = `repeat(${result.segments.length}, minmax(0, 1fr))`;
  frames.replaceChildren(...result.segments.map((segment) => {
    const column = document.createElement("li");
    // Person by person, so that each row under the timeline follows one person.
    column.append(...thumbnails.filter((t) => t.segment === segment.index)
      .sort((a, b) => a.track_id - b.track_id)
      .map((thumbnail) => frameOf(thumbnail, result, seek)));
    return column;
  }));
  frames.hidden = $("frames-caption").hidden = thumbnails.length === 0;
  $("frames-seek").hidden = !seek;
}

function frameOf(thumbnail, result, seek) {
  const branches = Object.entries(thumbnail.branches);
  const who = `Person #${thumbnail.track_id}${atTime(result, thumbnail.time_s)}: ` +
    `fake probability ${percent(thumbnail.probability)}` + (branches.length > 1
      ? ` (${branches.map(([name, p]) => `${name} ${percent(p)}`).join(", ")})` : "");
  const item = document.createElement(seek ? "button" : "figure");
  item.className = `frame ${verdictFor(thumbnail.probability, result)}`;
  const image = document.createElement("img");
  image.src = thumbnail.image;
  image.alt = who;
  const caption = cellOf(seek ? "span" : "figcaption",
    `#${thumbnail.track_id} ${percent(thumbnail.probability)}`);
  if (seek) {
    item.type = "button";
    item.title = `${who}. Show this moment in the video.`;
    item.addEventListener("click", () => seek(thumbnail.time_s));
  }
  item.append(image, caption);
  return item;
}

// ---- plain readings ----

const READINGS = {
  uncertain: (result) => (result.media.type === "audio" ? voiceUncertainReading(result)
    : uncertainReading(result)),
  no_face: noFaceReading,
  no_speech: noSpeechReading,
};

function showReading(result) {
  const reading = READINGS[result.verdict]?.(result);
  $("reading").hidden = !reading;
  if (!reading) return;
  $("reading-title").textContent = reading.title;
  $("reading-meaning").textContent = reading.meaning;
  const notes = result.warnings.length ? ["The service's notes at the end say more."] : [];
  $("reading-why").replaceChildren(...[...reading.why, ...notes].map((text) => cellOf("li", text)));
  $("reading-todo").textContent = reading.todo;
}

function uncertainReading(result) {
  const p = result.probability;
  const { real_below: realBelow, fake_at_or_above: fakeAt } = result.settings;
  const why = [];
  if (result.model.untrained) {
    why.push("No trained model is loaded on this server, so its scores mean nothing.");
  } else if (p >= realBelow && p < fakeAt) {
    why.push(`Its fake probability, ${percent(p)}, lies between the two lines the model was ` +
      `calibrated for: under ${threshold(realBelow)} it says real, at ${threshold(fakeAt)} or ` +
      "above fake. It saw some signs of manipulation, too few to call it fake.");
  } else {
    why.push(`Its fake probability, ${percent(p)}, would say ${verdictFor(p, result)}, but ` +
      "the service held back (see its notes).");
  }
  if (result.novelty !== null && result.novelty > 1) {
    why.push(`The faces look unlike those the model learned from (novelty ` +
      `${result.novelty.toFixed(2)}, over 1), so its scores are less reliable here.`);
  }
  const [top] = [...(result.thumbnails ?? [])].sort((a, b) => b.probability - a.probability);
  if (top) {
    why.push(`Its most suspicious face: person #${top.track_id}${atTime(result, top.time_s)} ` +
      `(${percent(top.probability)}), under the timeline.`);
  }
  return {
    title: "What “uncertain” means",
    meaning: "The service will not say real or fake: take it as no evidence either way.",
    why,
    todo: "look at the faces that scored highest; try the original file rather than a " +
      "re-encoded copy, with the face large, front-on and well lit; and for anything that " +
      "matters, weigh where the file came from (the model card at /v1/model says what this " +
      "model misses).",
  };
}

function noFaceReading(result) {
  const { media, settings } = result;
  // min_face_size counts pixels of the frame scaled to detect_short_side on its short side.
  const scale = Math.max(1, Math.min(media.width, media.height) / settings.detect_short_side);
  const frames = media.type === "image" ? "the image"
    : `the ${media.frames_sampled} frames sampled from the video`;
  return {
    title: "What “no face” means",
    meaning: "The service found no face to judge, so it says nothing about this file: it " +
      "judges faces only.",
    why: [`No face was found in ${frames}. Faces smaller than about ` +
      `${Math.round(settings.min_face_size * scale)} px, turned away, covered, blurred or dark ` +
      "are missed."],
    todo: "upload a file in which a face is clearly visible, front-on and larger; crop a small " +
      "face out of a big picture" +
      (media.type === "video" ? "; cut a video to the moments a face is on screen." : "."),
  };
}

function voiceUncertainReading(result) {
  const { probability: p, real_below: realBelow, fake_at_or_above: fakeAt } = result.audio;
  return {
    title: "What “uncertain” means",
    meaning: "The service will not say whether this voice is real or cloned: take it as no " +
      "evidence either way.",
    why: [`Its spoof probability, ${percent(p)}, lies between the two lines the voice model ` +
      `was calibrated for: under ${threshold(realBelow)} it says real, at ` +
      `${threshold(fakeAt)} or above fake.`],
    todo: "try the original recording rather than a re-encoded or phone copy, with one " +
      "speaker and little background noise; for anything that matters, weigh where the file " +
      "came from.",
  };
}

function noSpeechReading(result) {
  return {
    title: "What “no speech” means",
    meaning: "The service found too little speech to judge the voice, so it says nothing " +
      "about this file.",
    why: [`It found ${result.audio.speech_s.toFixed(1)} s of speech; a voice is judged on ` +
      "2 s or more. Music, noise and silence are not speech."],
    todo: "upload a recording in which someone speaks for a few seconds.",
  };
}
