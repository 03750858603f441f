// GAN Explorer's live generator: G runs in the page, so its picture follows the mouse.
//
// Loaded by explorer/live_generator.py as an st.components.v2 module (no iframe, no build step).
// Streamlit imports this module once per page load (a blob URL keyed by its text), then calls the
// default export on mount and again whenever the data from Python changes; the DOM it builds stays.
// So what must outlive a rerun lives at module level: the weights of each model, by model key.
//
// The maths is gan_core's, written out again for the browser (tests/test_live_generator.py checks
// it against the library for 100 seeded z):
//   G     Linear(latent, hidden) ReLU Linear(hidden, hidden) ReLU Linear(hidden, size*size) Tanh
//   pixel round((x + 1) * 127.5) clamped to 0..255, rounding half to even as torch.round does
//   lerp  a + (b - a) t;  slerp  gan_core.latent.slerp, its two special cases included

const MAX_MODELS = 4;            // weights kept in the page (about 1.1 MB each for the book's G)
const MODELS = new Map();        // model key -> {latent, hidden, out, W1, b1, W2, b2, W3, b3}, oldest first
const VIEWS = new WeakMap();     // parentElement -> that instance's state
const ALL = new Set();           // every instance on the page: one that arrives with weights wakes the others
const ASK_AFTER_MS = 500;        // an instance without weights waits this long for another to bring them
const EPS_ANGLE = 1e-4;          // gan_core.latent._EPS_ANGLE
// When each picture was drawn (performance.now()), how long drawing it took, and the pointer-to-picture
// delays, in ms: for bench/live_drag.py and the tests.
const stats = {draws: [], work: [], delays: [], keep: 2000};

// ---- the model --------------------------------------------------------------------------

function decodeWeights(b64, shape) {
  // float32 little-endian, in state_dict order: 0.weight (hidden, latent), 0.bias, 2.weight, 2.bias, 4.weight, 4.bias
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const all = new Float32Array(bytes.buffer);
  const [latent, hidden, out] = shape;
  const sizes = [hidden * latent, hidden, hidden * hidden, hidden, out * hidden, out];
  if (all.length !== sizes.reduce((s, n) => s + n, 0)) throw new Error("weights do not match their shape");
  const parts = [];
  let at = 0;
  for (const n of sizes) { parts.push(all.subarray(at, at + n)); at += n; }
  const [W1, b1, W2, b2, W3, b3] = parts;
  return {latent, hidden, out, W1, b1, W2, b2, W3, b3,
          h1: new Float32Array(hidden), h2: new Float32Array(hidden), x: new Float32Array(out)};
}

function remember(key, model) {
  MODELS.delete(key);
  MODELS.set(key, model);
  while (MODELS.size > MAX_MODELS) MODELS.delete(MODELS.keys().next().value);
}

function dense(W, b, v, n_in, n_out, outArr, relu) {
  // outArr[j] = b[j] + sum_i W[j, i] v[i]: W row-major (n_out, n_in), as nn.Linear stores it
  for (let j = 0; j < n_out; j++) {
    let s = 0;
    const row = j * n_in;
    for (let i = 0; i < n_in; i++) s += W[row + i] * v[i];
    s += b[j];
    outArr[j] = relu && s < 0 ? 0 : s;
  }
}

// G(z) in [-1, 1], (size*size,); z is any array of `latent` numbers.
function forward(m, z) {
  dense(m.W1, m.b1, z, m.latent, m.hidden, m.h1, true);
  dense(m.W2, m.b2, m.h1, m.hidden, m.hidden, m.h2, true);
  dense(m.W3, m.b3, m.h2, m.hidden, m.out, m.x, false);
  for (let j = 0; j < m.out; j++) m.x[j] = Math.tanh(m.x[j]);
  return m.x;
}

function roundHalfEven(v) {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// gan_core.to_uint8, in float32 as torch computes it.
function toPixels(x, outArr) {
  const u8 = outArr || new Uint8ClampedArray(x.length);
  for (let j = 0; j < x.length; j++) {
    const v = Math.fround(Math.fround(x[j] + 1) * 127.5);
    u8[j] = Math.min(255, Math.max(0, roundHalfEven(v)));
  }
  return u8;
}

// ---- the latent maths -------------------------------------------------------------------

function lerp(a, b, t) {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround(a[i] + Math.fround(b[i] - a[i]) * t);
  return out;
}

function norm(v) { let s = 0; for (let i = 0; i < v.length; i++) s += v[i] * v[i]; return Math.sqrt(s); }

function slerp(a, b, t) {
  const na = norm(a), nb = norm(b), n = a.length;
  if (na === 0 || nb === 0) return lerp(a, b, t);
  let dot = 0;
  for (let i = 0; i < n; i++) dot += (a[i] / na) * (b[i] / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
  if (omega < EPS_ANGLE) return lerp(a, b, t);
  const u = new Float64Array(n);
  if (Math.PI - omega < EPS_ANGLE) {
    // nearly opposite: turn through the axis where a is smallest, made orthogonal to a (as gan_core does)
    let k = 0;
    for (let i = 1; i < n; i++) if (Math.abs(a[i]) < Math.abs(a[k])) k = i;
    const ek = a[k] / na;
    const perp = new Float64Array(n);
    for (let i = 0; i < n; i++) perp[i] = (i === k ? 1 : 0) - ek * (a[i] / na);
    const np = norm(perp);
    for (let i = 0; i < n; i++) u[i] = Math.cos(Math.PI * t) * (a[i] / na) + Math.sin(Math.PI * t) * perp[i] / np;
  } else {
    const s0 = Math.sin((1 - t) * omega), s1 = Math.sin(t * omega), so = Math.sin(omega);
    for (let i = 0; i < n; i++) u[i] = (s0 * (a[i] / na) + s1 * (b[i] / nb)) / so;
  }
  const len = (1 - t) * na + t * nb;
  for (let i = 0; i < n; i++) u[i] = Math.fround(u[i] * len);
  return u;
}

function between(mode, a, b, t) { return mode === "lerp" ? lerp(a, b, t) : slerp(a, b, t); }

// gan_core.interpolate's t for frame i of n: i / (n - 1)
function frameT(i, n) { return n > 1 ? i / (n - 1) : 0; }

// What the tests and the bench call in the page.
globalThis.ganLive = {
  models: MODELS, stats, lerp, slerp, toPixels,
  // uint8 pixels of G(z) for a model the page holds, as a plain array (for Playwright)
  pixels(key, z) {
    const m = MODELS.get(key);
    if (!m) throw new Error("no weights for " + key);
    return Array.from(toPixels(forward(m, z)));
  },
};

// ---- drawing ----------------------------------------------------------------------------

function canvasFor(side, label) {
  const c = document.createElement("canvas");
  c.width = side; c.height = side;
  c.setAttribute("role", "img");
  if (label) c.setAttribute("aria-label", label);
  return c;
}

function paint(ctx, image, side, pixels, x0 = 0, y0 = 0) {
  // grey pixels into an ImageData (RGBA), then onto the canvas at (x0, y0)
  const d = image.data;
  for (let j = 0, p = 0; j < side * side; j++, p += 4) {
    const v = pixels[j];
    d[p] = v; d[p + 1] = v; d[p + 2] = v; d[p + 3] = 255;
  }
  ctx.putImageData(image, x0, y0);
}

// Whole-number enlargement that fits the width, at most `most` (pixels stay crisp squares).
function fitScale(c, width, most) {
  const s = Math.max(1, Math.min(most, Math.floor(width / c.width)));
  c.style.width = `${c.width * s}px`;
  c.style.height = `${c.height * s}px`;
}

// The largest enlargement allowed: data.scale, and on a projector the whole number nearest to data.picture_vh of
// the window's height (within half a step of it: 62% gives 60.1-63.9% at 720 and 768 px).
function mostScale(data, side) {
  if (!data.picture_vh) return data.scale;
  return Math.max(1, Math.min(data.scale, Math.round(window.innerHeight * data.picture_vh / 100 / side)));
}

function fmt(template, fields) {
  return template.replace(/\{(\w+)\}/g, (all, k) => (k in fields ? String(fields[k]) : all));
}

function signed(v, digits) { return (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(digits); }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- one instance -----------------------------------------------------------------------

function newView(root) {
  const view = {root, box: el("div", "live"), pending: false, lastMove: null, model: null, key: null, build: null};
  root.appendChild(view.box);
  // pointer-to-picture delay: the first pointer event since the last picture starts the clock
  view.box.addEventListener("pointermove", e => { if (view.lastMove === null) view.lastMove = e.timeStamp; },
                            {capture: true, passive: true});
  view.observer = new ResizeObserver(() => view.fit && view.fit());
  view.observer.observe(view.box);
  return view;
}

// Redraw at most once a frame, whatever the number of input events.
function schedule(view) {
  if (view.pending) return;
  view.pending = true;
  requestAnimationFrame(() => {
    view.pending = false;
    if (!view.model) return;
    const t0 = performance.now();
    view.draw();
    const now = performance.now();
    stats.draws.push(now);
    stats.work.push(now - t0);
    if (view.lastMove !== null) stats.delays.push(now - view.lastMove);
    view.lastMove = null;
    for (const a of [stats.draws, stats.delays, stats.work]) if (a.length > stats.keep) a.splice(0, a.length - stats.keep);
  });
}

// -- the Latent page: the picture, the direction sliders with their strips, z's own sliders --

function buildLatent(view, data, report) {
  const T = data.text, side = data.image_size, box = view.box;
  box.replaceChildren();
  box.classList.add("latent");
  const left = el("div", "picture"), right = el("div", "sliders");
  box.append(left, right);
  const canvas = canvasFor(side, T.picture);
  const caption = el("div", "caption");
  left.append(canvas, caption);
  const ctx = canvas.getContext("2d");
  if (!ctx) return false;
  const image = ctx.createImageData(side, side);

  const k = data.directions.length, dim = data.latent_dim;
  const s = {base: Float64Array.from(data.position.base), amounts: Float64Array.from(data.position.amounts),
             z: new Float64Array(dim)};
  view.s = s;
  const compose = () => {
    for (let i = 0; i < dim; i++) {
      let v = s.base[i];
      for (let d = 0; d < k; d++) v += s.amounts[d] * data.directions[d][i];
      s.z[i] = v;
    }
  };
  const dirInputs = [], dirOutputs = [], strips = [];
  const uid = Math.random().toString(36).slice(2, 8);
  for (let d = 0; d < k; d++) {
    const row = el("div", "row");
    const id = `live-${uid}-a${d}`;
    const label = el("label", "", data.labels[d]);
    label.htmlFor = id;
    if (data.helps && data.helps[d]) label.title = data.helps[d];
    const out = el("output", "value");
    out.htmlFor = id;
    const input = el("input");
    Object.assign(input, {type: "range", id, min: -data.span, max: data.span, step: data.step});
    input.dataset.direction = d;
    const strip = canvasFor(side, fmt(T.strip, {label: data.labels[d]}));
    strip.width = side * data.strip_frames;
    strip.className = "strip";
    row.append(label, out, input, strip);
    right.append(row);
    dirInputs.push(input); dirOutputs.push(out); strips.push(strip);
  }
  // z itself behind a disclosure (a real <details>: keyboard and screen readers know it)
  const raw = el("details", "raw");
  const summary = el("summary", "", T.raw_title);
  raw.append(summary);
  const note = el("div", "note", T.raw_note);
  const grid = el("div", "grid");
  raw.append(note, grid);
  const rawInputs = [], rawShown = Math.min(dim, data.raw_max);
  for (let i = 0; i < rawShown; i++) {
    const id = `live-${uid}-z${i}`;
    const cell = el("div", "cell");
    const label = el("label", "", `z${i}`);
    label.htmlFor = id;
    const input = el("input");
    Object.assign(input, {type: "range", id, min: -data.raw_range, max: data.raw_range, step: data.raw_step});
    input.dataset.raw = i;
    cell.append(label, input);
    grid.append(cell);
    rawInputs.push(input);
  }
  if (data.raw_open) raw.open = true;
  box.append(raw);

  const showSliders = () => {
    for (let d = 0; d < k; d++) { dirInputs[d].value = s.amounts[d]; dirOutputs[d].textContent = signed(s.amounts[d], 1); }
    for (let i = 0; i < rawShown; i++) rawInputs[i].value = Math.min(data.raw_range, Math.max(-data.raw_range, s.z[i]));
  };
  view.draw = () => {
    compose();
    paint(ctx, image, side, toPixels(forward(view.model, s.z), view.px));
  };
  const stripImage = ctx.createImageData(side, side);
  view.drawStrips = () => {
    // base + a n_d for a evenly from -span to +span (gan_core.direction_strip), drawn once per base
    const zs = new Float64Array(dim), n = data.strip_frames;
    for (let d = 0; d < k; d++) {
      const sctx = strips[d].getContext("2d");
      for (let f = 0; f < n; f++) {
        const a = -data.span + (2 * data.span * f) / (n - 1);
        for (let i = 0; i < dim; i++) zs[i] = Math.fround(s.base[i] + Math.fround(a * data.directions[d][i]));
        paint(sctx, stripImage, side, toPixels(forward(view.model, zs)), f * side);
      }
    }
  };
  view.fit = () => {
    const w = box.clientWidth;
    const wide = w >= data.two_columns_px;
    box.classList.toggle("wide", wide);
    box.style.gridTemplateColumns = wide ? `${data.columns[0]}fr ${data.columns[1]}fr` : "";
    fitScale(canvas, wide ? left.clientWidth : w, mostScale(data, side));
    for (const st of strips) fitScale(st, right.clientWidth || w, data.strip_scale);
  };
  view.posKey = (pos) => JSON.stringify([pos.base, pos.amounts]);
  view.setPosition = (pos) => {
    s.base = Float64Array.from(pos.base);
    s.amounts = Float64Array.from(pos.amounts);
    compose();
    showSliders();
    if (view.model) { view.draw(); view.drawStrips(); }
  };
  view.setCaption = (text) => { caption.textContent = text; caption.classList.remove("stale"); };
  // A walk through z (a steering path, (T, latent)) played once in the picture, slerp between its points
  // as latent_tools.animation does, then the picture of the page's z again.
  view.play = (path, ms) => {
    if (view.stop) view.stop();
    const points = path.map(p => Float64Array.from(p));
    let id = null, t0 = null;
    const tick = (now) => {
      if (t0 === null) t0 = now;   // the first frame's own clock (a frame's time can precede performance.now())
      const q = Math.min(1, (now - t0) / ms) * (points.length - 1), i = Math.min(points.length - 2, Math.floor(q));
      const z = points.length > 1 ? slerp(points[i], points[i + 1], q - i) : points[0];
      paint(ctx, image, side, toPixels(forward(view.model, z), view.px));
      id = now - t0 < ms ? requestAnimationFrame(tick) : null;
      if (id === null) { view.stop = null; view.draw(); }
    };
    view.stop = () => { if (id !== null) cancelAnimationFrame(id); id = null; view.stop = null; view.draw(); };
    id = requestAnimationFrame(tick);
  };

  const moved = (e) => {
    const t = e.target;
    if (t.dataset.direction !== undefined) {
      const d = +t.dataset.direction;
      s.amounts[d] = +t.value;
      dirOutputs[d].textContent = signed(s.amounts[d], 1);
      if (raw.open) { compose(); for (let i = 0; i < rawShown; i++) rawInputs[i].value = s.z[i]; }
    } else if (t.dataset.raw !== undefined) {
      // z[i] takes the slider's value: the base moves there, the direction sliders stay (as on the server page)
      const i = +t.dataset.raw;
      compose();
      s.base[i] += +t.value - s.z[i];
    } else return;
    caption.classList.add("stale");   // D's verdict is the released z's: it is redrawn on release
    schedule(view);
  };
  const released = (e) => {
    if (e.target.dataset.raw !== undefined && view.model) view.drawStrips();
    compose();
    const pos = {base: Array.from(s.base), amounts: Array.from(s.amounts), z: Array.from(s.z)};
    view.reported = view.posKey(pos);
    report(pos);
  };
  box.addEventListener("input", moved);
  box.addEventListener("change", released);
  raw.addEventListener("toggle", () => { if (raw.open) showSliders(); });
  compose();
  showSliders();
  return true;
}

// -- the Interpolate page: both walks from the two ends, a frame slider and a play button --

function buildWalk(view, data, report) {
  const T = data.text, side = data.image_size, box = view.box;
  box.replaceChildren();
  box.classList.add("walk");
  const panes = el("div", "panes"), modes = data.modes;
  panes.style.gridTemplateColumns = `repeat(${modes.length}, 1fr)`;
  const canvases = {}, captions = {}, ctxs = {}, images = {};
  for (const mode of modes) {
    const pane = el("figure", "pane");
    const c = canvasFor(side, T.modes[mode]);
    const cap = el("figcaption", "caption");
    pane.append(c, cap);
    panes.append(pane);
    canvases[mode] = c; captions[mode] = cap;
    ctxs[mode] = c.getContext("2d");
    if (!ctxs[mode]) return false;
    images[mode] = ctxs[mode].createImageData(side, side);
  }
  const controls = el("div", "controls");
  const uid = Math.random().toString(36).slice(2, 8);
  const label = el("label", "", T.frame);
  label.htmlFor = `live-${uid}-frame`;
  const input = el("input");
  Object.assign(input, {type: "range", id: label.htmlFor, min: 1, max: data.frames, step: 1});
  const play = el("button", "play", T.play);
  play.type = "button";
  controls.append(label, input, play);
  box.append(panes, controls);

  const s = {a: Float64Array.from(data.position.a), b: Float64Array.from(data.position.b), frame: data.position.frame,
             t: null, playing: null};
  view.s = s;
  const n = () => data.frames;
  const tNow = () => (s.t !== null ? s.t : frameT(s.frame - 1, n()));
  view.draw = () => {
    const t = tNow();
    for (const mode of modes) {
      paint(ctxs[mode], images[mode], side, toPixels(forward(view.model, between(mode, s.a, s.b, t)), view.px));
      let text = fmt(T.caption, {mode: T.modes[mode], frame: s.frame, frames: n()});
      if (s.t === null && data.scores) text += ` · D = ${data.scores[mode][s.frame - 1].toFixed(2)}`;
      captions[mode].textContent = text;
    }
  };
  view.fit = () => {
    const w = box.clientWidth;
    for (const mode of modes) fitScale(canvases[mode], w / modes.length - 16, mostScale(data, side));
  };
  view.posKey = (pos) => JSON.stringify([pos.a, pos.b, pos.frame]);
  view.setPosition = (pos) => {
    s.a = Float64Array.from(pos.a); s.b = Float64Array.from(pos.b);
    s.frame = Math.min(pos.frame, n());
    input.value = s.frame;
    if (view.model) view.draw();
  };
  view.setCaption = () => {};
  input.addEventListener("input", () => { s.frame = +input.value; s.t = null; schedule(view); });
  input.addEventListener("change", () => {
    view.reported = view.posKey({a: Array.from(s.a), b: Array.from(s.b), frame: s.frame});
    report({frame: s.frame});
  });
  // Play: t runs 0 -> 1 -> 0 continuously, a frame drawn at each of the display's frames
  const stop = () => {
    if (s.playing !== null) cancelAnimationFrame(s.playing);
    s.playing = null; s.t = null; play.textContent = T.play; play.setAttribute("aria-pressed", "false");
    if (view.model) view.draw();
  };
  const tick = (start) => (now) => {
    const phase = (Math.max(0, now - start) / data.period_ms) % 2;   // a frame's time can precede start
    s.t = phase <= 1 ? phase : 2 - phase;
    s.frame = Math.round(s.t * (n() - 1)) + 1;
    input.value = s.frame;
    view.draw();
    stats.draws.push(performance.now());
    s.playing = requestAnimationFrame(tick(start));
  };
  play.addEventListener("click", () => {
    if (s.playing !== null) return stop();
    play.textContent = T.pause; play.setAttribute("aria-pressed", "true");
    s.playing = requestAnimationFrame(tick(performance.now()));
  });
  view.stop = stop;
  input.value = s.frame;
  return true;
}

// -- the latent map: a grid of G's pictures over the plane through three z; hovering anywhere shows the
//    picture of that very point (between cells too), a click or Enter makes a cell the page's z --

// gan_core.latent_map.plane_z at any (u, v) in [0, 1]^2: u left to right, v top to bottom
function planeZ(P, u, v) {
  const f = P.mode;
  return between(f, between(f, P.a, P.c, v), between(f, P.b, P.d, v), u);
}

function buildPlane(view, data, report) {
  const T = data.text, side = data.image_size, box = view.box, pad = data.pad;
  const rows = data.rows, cols = data.cols;
  box.replaceChildren();
  box.classList.add("plane");
  const map = canvasFor(1, T.map);
  map.width = cols * (side + pad) + pad; map.height = rows * (side + pad) + pad;
  map.tabIndex = 0;
  const cursor = el("div", "cursor");
  const mapBox = el("div", "map");
  mapBox.append(map, cursor);
  const preview = canvasFor(side, T.preview);
  const caption = el("div", "caption");
  const right = el("div", "preview");
  right.append(preview, caption);
  box.append(mapBox, right);
  const mctx = map.getContext("2d"), pctx = preview.getContext("2d");
  if (!mctx || !pctx) return false;
  const cellImage = mctx.createImageData(side, side), image = pctx.createImageData(side, side);
  const s = {P: null, pos: null, u: 0, v: 0, cell: null, focus: 0};
  view.s = s;
  const at = (cell) => [cell % cols, Math.floor(cell / cols)];
  const cellUV = (cell) => { const [j, i] = at(cell); return [frameT(j, cols), frameT(i, rows)]; };
  const scale = () => map.clientWidth / map.width;
  const place = (cell) => {   // the outline around a cell, in CSS pixels
    if (cell === null) { cursor.hidden = true; return; }
    const [j, i] = at(cell), k = scale();
    Object.assign(cursor.style, {left: `${(pad + j * (side + pad)) * k - 2}px`, top: `${(pad + i * (side + pad)) * k - 2}px`,
                                 width: `${side * k}px`, height: `${side * k}px`});
    cursor.hidden = false;
  };
  view.draw = () => {
    if (!s.P) return;
    paint(pctx, image, side, toPixels(forward(view.model, planeZ(s.P, s.u, s.v)), view.px));
  };
  const drawMap = () => {
    mctx.fillStyle = "#000";
    mctx.fillRect(0, 0, map.width, map.height);
    for (let cell = 0; cell < rows * cols; cell++) {
      const [j, i] = at(cell), [u, v] = cellUV(cell);
      paint(mctx, cellImage, side, toPixels(forward(view.model, planeZ(s.P, u, v))), pad + j * (side + pad),
            pad + i * (side + pad));
    }
  };
  view.fit = () => {
    const w = box.clientWidth;
    fitScale(map, w - 16 - 4 * side, data.scale);   // the map first, leaving the preview at least 4x
    fitScale(preview, w - 16 - map.clientWidth, data.preview_scale);
    place(s.cell);
  };
  view.posKey = (pos) => JSON.stringify([pos.a, pos.b, pos.c, pos.mode, pos.cell]);
  view.setPosition = (pos) => {
    const a = Float64Array.from(pos.a), b = Float64Array.from(pos.b), c = Float64Array.from(pos.c);
    const d = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) d[i] = Math.fround(c[i] + Math.fround(b[i] - a[i]));   // D = C + (B - A)
    s.P = {a, b, c, d, mode: pos.mode};
    s.pos = pos;
    s.cell = pos.cell;
    if (s.cell !== null) s.focus = s.cell;
    [s.u, s.v] = cellUV(s.focus);
    place(s.cell);
    if (view.model) { drawMap(); view.draw(); }
  };
  view.setCaption = (text) => { caption.textContent = text; };
  // the pointer's (u, v): the centres of the corner cells are the plane's corners
  const uv = (e) => {
    const r = map.getBoundingClientRect(), k = r.width / map.width;
    const x = (e.clientX - r.left) / k - pad - side / 2, y = (e.clientY - r.top) / k - pad - side / 2;
    const clamp = q => Math.min(1, Math.max(0, q));
    return [clamp(x / ((cols - 1) * (side + pad))), clamp(y / ((rows - 1) * (side + pad)))];
  };
  map.addEventListener("pointermove", (e) => { [s.u, s.v] = uv(e); schedule(view); });
  map.addEventListener("pointerleave", () => { [s.u, s.v] = cellUV(s.focus); schedule(view); });
  const pick = (cell) => { s.cell = s.focus = cell; place(cell); view.reported = view.posKey({...s.pos, cell});
                           report({cell}); };
  map.addEventListener("click", (e) => {
    const [u, v] = uv(e);
    pick(Math.round(v * (rows - 1)) * cols + Math.round(u * (cols - 1)));
  });
  map.addEventListener("keydown", (e) => {
    const [j, i] = at(s.focus);
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(s.focus); return; }
    if (!(e.key in moves)) return;
    e.preventDefault();
    const jj = Math.min(cols - 1, Math.max(0, j + moves[e.key][0])), ii = Math.min(rows - 1, Math.max(0, i + moves[e.key][1]));
    s.focus = ii * cols + jj;
    [s.u, s.v] = cellUV(s.focus);
    map.setAttribute("aria-label", fmt(T.cell, {row: ii + 1, col: jj + 1}));
    schedule(view);
  });
  return true;
}

const BUILDERS = {latent: buildLatent, walk: buildWalk, plane: buildPlane};

export default function (component) {
  const {data, parentElement, setStateValue, setTriggerValue} = component;
  let view = VIEWS.get(parentElement);
  if (!view) { view = newView(parentElement); VIEWS.set(parentElement, view); }

  if (data.weights) {
    try { remember(data.model, decodeWeights(data.weights, data.shape)); }
    catch (e) { setStateValue("trouble", String(e.message || e).slice(0, 200)); return; }
  }
  const model = MODELS.get(data.model) || null;
  if (!model) {
    // Python sends a model's weights to one instance once: another instance of this run may be bringing
    // them. If none has after a moment (a page that dropped them: more models than it keeps), ask again.
    setTimeout(() => {
      if (!MODELS.has(data.model) && view.key === data.model && view.asked !== data.model) {
        view.asked = data.model;
        setTriggerValue("need_weights", data.model);
      }
    }, ASK_AFTER_MS);
  } else {
    remember(data.model, model);   // most recently used
  }

  // A new layout (mode, model shape, directions, texts) rebuilds; anything else updates in place.
  const build = JSON.stringify([data.mode, data.shape, data.directions, data.labels, data.helps, data.text,
                                data.frames, data.modes, data.scores, data.scale, data.picture_vh, data.columns,
                                data.rows, data.cols]);
  let fresh = false;
  if (build !== view.build) {
    if (view.stop) view.stop();
    view.stop = null;
    const ok = BUILDERS[data.mode](view, data, value => setStateValue("position", value));
    if (!ok) { setStateValue("canvas", false); return; }   // no 2D canvas here: the page draws on the server
    view.build = build;
    view.position = null;
    fresh = true;
  }
  const modelChanged = view.key !== data.model || view.model !== model;
  view.model = model;
  view.key = data.model;
  view.px = model ? new Uint8ClampedArray(model.out) : null;
  // Python's position: applied when Python changed it (a seed, a steering walk, a map click), not when
  // it only echoes what the sliders reported, so a drag in progress is never pulled back.
  view.positionJSON = JSON.stringify(data.position);
  const position = view.posKey(data.position);
  if (fresh || modelChanged || (position !== view.position && position !== view.reported)) {
    view.setPosition(data.position);
  }
  view.position = position;
  view.setCaption(data.caption || "");
  if (view.fit) view.fit();
  if (data.play && view.model && view.played !== data.play.id) { view.played = data.play.id; view.play(data.play.path, data.play.ms); }
  ALL.add(view);
  if (data.weights) {
    for (const other of ALL) if (other !== view && other.key === data.model && !other.model) wake(other, model);
  }
  return () => { if (view.stop) view.stop(); view.observer.disconnect(); VIEWS.delete(parentElement); ALL.delete(view); };
}

// Weights arrived with another instance: draw this one with them.
function wake(view, model) {
  view.model = model;
  view.px = new Uint8ClampedArray(model.out);
  view.setPosition(JSON.parse(view.positionJSON));
}
