// The recovery window of a cluster's backups on a time axis, drawn as SVG (no library). Pure helpers are exported for the
// page: which base backup a restore to a moment starts from, and the windows of the backups.

const SVG = 'http://www.w3.org/2000/svg';
const AXIS_HEIGHT = 30;
const LANE_HEIGHT = 64;
const PERIOD_LABELS = { interrupted: 'streaming interrupted', degraded: 'DEGRADED', failed: 'FAILED' };

export function formatUtc(ms) {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatLocal(ms) {
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  });
}

/**
 * The backups (chains) of a cluster with their recovery windows, the active one first, then the older ones newest first.
 * start: the backup's earliestRecoveryTargetTime (null: none yet); end: now while the active backup streams (AVAILABLE),
 * else when its WAL ended as the cluster's history recorded it (endKnown), else the start of the backup that replaced it,
 * else its newest complete base backup's end. periods: the cluster's history periods drawn on the backup's lane.
 * @param {{backup: object, bases: object[]}[]} chains as listed by the API (newest first), bases oldest first
 * @param {{kind: string, backupId?: string, start: string, end?: string, reason: string}[]} history GET /clusters/{id}/history
 */
export function chainWindows(chains, now, history = []) {
  const ordered = [...chains].sort((a, b) => Number(b.backup.properties.isActive) - Number(a.backup.properties.isActive)
    || Date.parse(b.backup.metadata.createdDate) - Date.parse(a.backup.metadata.createdDate));
  const byCreated = [...chains].sort((a, b) => Date.parse(a.backup.metadata.createdDate) - Date.parse(b.backup.metadata.createdDate));
  return ordered.map((chain) => {
    const p = chain.backup.properties;
    const start = p.earliestRecoveryTargetTime ? Date.parse(p.earliestRecoveryTargetTime) : null;
    const streaming = p.isActive && chain.backup.metadata.state === 'AVAILABLE';
    const complete = chain.bases.filter((b) => b.metadata.state === 'AVAILABLE' && b.properties.stopTime);
    const lastStop = complete.length ? Date.parse(complete[complete.length - 1].properties.stopTime) : start;
    const next = byCreated.find((c) => Date.parse(c.backup.metadata.createdDate) > Date.parse(chain.backup.metadata.createdDate));
    const ended = history.find((h) => h.kind === 'ended' && h.backupId === chain.backup.id);
    let end = lastStop;
    let endKnown = true;
    if (streaming) end = now;
    else if (!p.isActive && ended) end = Math.max(lastStop ?? 0, Date.parse(ended.start));
    else if (!p.isActive && next) {
      // Replaced before the history recorded it (or the record expired): about where the next backup starts.
      end = Math.max(lastStop ?? 0, Date.parse(next.backup.metadata.createdDate));
      endKnown = false;
    }
    const periods = history
      .filter((h) => h.kind in PERIOD_LABELS && (h.backupId === chain.backup.id || (!h.backupId && p.isActive)))
      .map((h) => ({ ...h, from: Date.parse(h.start), to: h.end ? Date.parse(h.end) : null }));
    return { ...chain, start, end, endKnown, streaming, periods };
  });
}

/** A period of the cluster's history in words: what, from when to when, and why. */
export function describePeriod(period) {
  return `${PERIOD_LABELS[period.kind] ?? period.kind} ${formatUtc(period.from)} to `
    + `${period.to === null ? 'now (going on)' : formatUtc(period.to)}: ${period.reason}`;
}

/** The periods of <chain> around <time> (within <slack> ms), the newest first. */
export function periodsAt(chain, time, now, slack = 0) {
  return (chain?.periods ?? []).filter((p) => time >= p.from - slack && time <= (p.to ?? now) + slack);
}

/**
 * The base backup a restore to <time> starts from, as the restore planner picks it: the newest complete one that ended
 * before the time, when the time lies in the backup's recovery window; null otherwise. (Times the API gives are whole
 * seconds, cut down: a moment in the same second as a base backup's end is not taken as after it.)
 */
export function restoreStart(chain, time) {
  const end = chain.streaming ? Date.now() : chain.end;
  if (chain.start === null || end === null || time <= chain.start || time > end) return null;
  let pick = null;
  for (const b of chain.bases) {
    if (b.metadata.state === 'AVAILABLE' && b.properties.stopTime && Date.parse(b.properties.stopTime) < time) pick = b;
  }
  return pick;
}

const STEPS = [60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 172800, 604800, 2592000, 7776000, 31536000]
  .map((s) => s * 1000);

function node(tag, attributes = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function tickLabel(ms, step) {
  const iso = new Date(ms).toISOString();
  if (step >= 86400000) return iso.slice(5, 10);
  if (iso.slice(11, 16) === '00:00') return iso.slice(5, 10);
  return iso.slice(11, 16);
}

function markClass(b) {
  if (b.metadata.state === 'BUSY') return 'mark-running';
  if (b.metadata.state === 'FAILED') return 'mark-failed';
  const type = String(b.properties.type || 'full').toLowerCase();
  if (type.startsWith('incr')) return 'mark-incr';
  if (type.startsWith('diff')) return 'mark-diff';
  return 'mark-full';
}

/** Draws the timeline into <container> and gives its SVG a hit test (client point → {time, lane}). */
export function drawTimeline(container, { chains, from, to, chosen, lane, now }) {
  const width = Math.max(300, container.clientWidth || 800);
  const lanes = Math.max(1, chains.length);
  const height = AXIS_HEIGHT + lanes * LANE_HEIGHT + 6;
  const x = (t) => ((t - from) / (to - from)) * width;
  const svg = node('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': describe(chains) });
  // Periods are told apart by pattern as well as colour: stripes (interrupted), dots (DEGRADED), solid (FAILED).
  const defs = node('defs');
  const stripes = node('pattern', { id: 'pv-interrupted', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
  stripes.append(node('rect', { width: 6, height: 6, fill: '#fde4e2' }), node('rect', { width: 2.5, height: 6, fill: '#8c1d18' }));
  const dots = node('pattern', { id: 'pv-degraded', width: 5, height: 5, patternUnits: 'userSpaceOnUse' });
  dots.append(node('rect', { width: 5, height: 5, fill: '#fff1d6' }), node('circle', { cx: 2.5, cy: 2.5, r: 1.3, fill: '#6b3a00' }));
  defs.append(stripes, dots);
  svg.append(defs);

  const step = STEPS.find((s) => (to - from) / s <= Math.max(3, Math.floor(width / 90))) ?? STEPS[STEPS.length - 1];
  const axis = node('g', { class: 'axis' });
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    axis.append(node('line', { x1: x(t), x2: x(t), y1: AXIS_HEIGHT - 6, y2: height }));
    // A label that would be cut at the right edge is left out.
    if (x(t) + 40 < width) axis.append(node('text', { x: x(t) + 3, y: AXIS_HEIGHT - 10 }, tickLabel(t, step)));
  }
  axis.append(node('text', { x: 4, y: 10 }, 'UTC'));
  svg.append(axis);

  chains.forEach((chain, i) => {
    const top = AXIS_HEIGHT + i * LANE_HEIGHT;
    const g = node('g', { class: 'lane' });
    if (i === lane) g.append(node('rect', { x: 0, y: top, width, height: LANE_HEIGHT, fill: 'rgb(11 87 208 / 6%)' }));
    g.append(node('text', { class: 'lane-label', x: 4, y: top + 12 },
      `${chain.backup.properties.isActive ? 'active' : 'older'} backup ${chain.backup.id}`));
    if (chain.start !== null && chain.end !== null && chain.end > from && chain.start < to) {
      const x1 = Math.max(0, x(chain.start));
      const x2 = Math.min(width, x(chain.end));
      const win = node('rect', { class: chain.backup.properties.isActive ? 'window' : 'window inactive', x: x1, y: top + 24, width: Math.max(2, x2 - x1), height: 16 });
      win.append(node('title', {}, `recovery window ${formatUtc(chain.start)} to ${chain.streaming ? 'now' : formatUtc(chain.end)}`
        + (chain.endKnown ? '' : ' (end approximated by the next backup\'s start)')));
      g.append(win);
    }
    // The history's periods, in a band under the window: FAILED and DEGRADED first, an interruption over them.
    const order = { failed: 0, degraded: 1, interrupted: 2 };
    for (const p of [...chain.periods].sort((a, b) => order[a.kind] - order[b.kind])) {
      const e = p.to ?? now;
      if (e < from || p.from > to) continue;
      const x1 = Math.max(0, x(p.from));
      const rect = node('rect', {
        class: `period period-${p.kind}`, x: x1, y: top + 49, width: Math.max(3, Math.min(width, x(e)) - x1), height: 11,
        'data-kind': p.kind,
      });
      rect.append(node('title', {}, describePeriod(p)));
      g.append(rect);
    }
    for (const b of chain.bases) {
      const s = Date.parse(b.properties.startTime);
      const e = b.properties.stopTime ? Date.parse(b.properties.stopTime) : now;
      if (e < from || s > to) continue;
      const x1 = x(s);
      const mark = node('rect', {
        class: `mark ${markClass(b)}`, x: x1 - 1.5, y: top + 18, width: Math.max(3, x(e) - x1), height: 28,
        'data-label': b.properties.label,
      });
      mark.append(node('title', {}, `base backup ${b.properties.label} (${b.properties.type}, ${b.metadata.state}) `
        + `${formatUtc(s)}${b.properties.stopTime ? ` to ${formatUtc(e)}` : ', running'}`));
      g.append(mark);
    }
    svg.append(g);
  });

  if (now >= from && now <= to) {
    svg.append(node('line', { x1: x(now), x2: x(now), y1: AXIS_HEIGHT - 6, y2: height, stroke: '#4f5661', 'stroke-dasharray': '4 3' }));
  }
  if (chosen !== null && chosen >= from && chosen <= to) {
    svg.append(node('line', { class: 'chosen', x1: x(chosen), x2: x(chosen), y1: AXIS_HEIGHT - 6, y2: height }));
  }

  svg.pgvaultHitTest = (clientX, clientY) => {
    const box = svg.getBoundingClientRect();
    if (box.width === 0 || clientX < box.left || clientX > box.right || clientY < box.top || clientY > box.bottom) return null;
    const px = ((clientX - box.left) / box.width) * width;
    const py = ((clientY - box.top) / box.height) * height;
    const time = Math.min(now, from + (px / width) * (to - from));
    const laneIndex = Math.max(0, Math.min(chains.length - 1, Math.floor((py - AXIS_HEIGHT) / LANE_HEIGHT)));
    return { time, lane: laneIndex };
  };

  const legend = document.createElement('div');
  legend.className = 'legend';
  for (const [cls, text] of [['win', 'recovery window'], ['old', 'older backup'], ['full', 'full base backup'],
    ['diff', 'differential'], ['incr', 'incremental'], ['interrupted', 'streaming interrupted'], ['degraded', 'DEGRADED'],
    ['failed', 'FAILED']]) {
    const item = document.createElement('span');
    item.className = cls;
    item.textContent = text;
    legend.append(item);
  }
  container.replaceChildren(svg, legend);
}

function describe(chains) {
  const active = chains.find((c) => c.backup.properties.isActive);
  if (!active || active.start === null) return `Timeline of ${chains.length} backups; no recovery window yet`;
  return `Timeline of ${chains.length} backups; the active recovery window is ${formatUtc(active.start)} to `
    + `${active.streaming ? 'now' : formatUtc(active.end)}`;
}
