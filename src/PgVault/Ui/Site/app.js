// PgVault console: plain JavaScript (an ES module), no framework and no build step. It reads and acts through the API's
// own endpoints, signed in by the session cookie; the CSRF token of the session is kept in memory only.
import { drawTimeline, restoreStart, formatUtc, formatLocal, chainWindows, describePeriod, periodsAt } from './timeline.js';

const root = location.pathname.replace(/\/ui\/.*$/, '');
const session = { csrf: null, name: null };
const $ = (id) => document.getElementById(id);

// ---- problems are recorded where the browser tests can read them, and logged ----------------------------------------
window.pgvaultProblems = [];
function recordProblem(text) {
  window.pgvaultProblems.push(String(text));
  console.error(text);
}
window.addEventListener('error', (e) => recordProblem(`error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => recordProblem(`unhandled: ${e.reason?.message ?? e.reason}`));
document.addEventListener('securitypolicyviolation', (e) => recordProblem(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));

// ---- the API --------------------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, { body, authorization } = {}) {
  const headers = { 'X-PgVault-Console': '1', Accept: 'application/json' };
  if (authorization) headers.Authorization = authorization;
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(root + path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = data?.messages?.map((m) => m.message).join('; ') || `${response.status} ${response.statusText}`;
    if (response.status === 401 && session.name) signedOut('Your session has ended: sign in again.');
    throw new ApiError(response.status, message);
  }
  return { data, response };
}

/** Every item of a list endpoint, following its pages. */
async function listAll(path) {
  const items = [];
  for (let offset = 0; ;) {
    const sep = path.includes('?') ? '&' : '?';
    const { data } = await request('GET', `${path}${sep}offset=${offset}&limit=1000`);
    items.push(...data.items);
    if (!data.links?.next || data.items.length === 0) return items;
    offset += data.items.length;
  }
}

// ---- small DOM helpers (text only: nothing is ever parsed as HTML) ----------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'title' || key === 'href') node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function stateBadge(state) {
  const known = ['AVAILABLE', 'BUSY', 'DEGRADED', 'FAILED', 'DESTROYING'].includes(state) ? state : 'UNKNOWN';
  return el('span', { class: `state state-${known}`, text: state || 'UNKNOWN' });
}

function megabytes(mb) {
  if (mb === undefined || mb === null) return '—';
  if (mb >= 1024 * 1024) return `${(mb / 1024 / 1024).toFixed(1)} TB`;
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)} GB`;
  return `${mb} MB`;
}

function bytes(n) {
  if (n === undefined || n === null) return '—';
  return megabytes(Math.max(n > 0 ? 1 : 0, Math.ceil(n / 1048576)));
}

function duration(seconds) {
  if (seconds === undefined || seconds === null) return '';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function ago(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 90) return 'just now';
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

function show(sectionId) {
  for (const id of ['loading', 'sign-in', 'overview', 'cluster']) $(id).hidden = id !== sectionId;
}

// ---- sign-in --------------------------------------------------------------------------------------------------------
function signedIn(data) {
  session.csrf = data.csrfToken;
  session.name = data.name;
  $('who').textContent = `Signed in as ${data.name}`;
  $('who').hidden = false;
  $('sign-out').hidden = false;
}

function signedOut(message) {
  session.csrf = null;
  session.name = null;
  stopRefresh();
  $('who').hidden = true;
  $('sign-out').hidden = true;
  const error = $('sign-in-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  show('sign-in');
  $('token').focus();
}

function utf8Base64(text) {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

async function onSignIn(event) {
  event.preventDefault();
  const kind = new FormData($('sign-in-form')).get('kind');
  const authorization = kind === 'token'
    ? `Bearer ${$('token').value.trim()}`
    : `Basic ${utf8Base64(`${$('user').value}:${$('password').value}`)}`;
  const button = $('sign-in-button');
  button.disabled = true;
  try {
    const { data } = await request('POST', '/ui/api/session', { authorization });
    $('token').value = '';
    $('password').value = '';
    $('sign-in-error').hidden = true;
    signedIn(data);
    route();
  } catch (e) {
    const error = $('sign-in-error');
    error.textContent = e.status === 401 ? 'Sign-in failed: the credentials were not accepted.' : `Sign-in failed: ${e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function onSignOut() {
  try {
    await request('DELETE', '/ui/api/session');
  } finally {
    signedOut('Signed out.');
  }
}

function onCredentialKind() {
  const password = new FormData($('sign-in-form')).get('kind') === 'password';
  $('token-fields').hidden = password;
  $('password-fields').hidden = !password;
}

// ---- the fleet overview ---------------------------------------------------------------------------------------------
const overview = {
  rows: [], sort: 'name', ascending: true, filter: '', state: '', page: 0, pageSize: 25, baseBackups: new Map(), loadedAt: new Map(),
  status: new Map(),
};
let refreshTimer = null;

function stopRefresh() {
  if (refreshTimer !== null) clearInterval(refreshTimer);
  refreshTimer = null;
}

function startRefresh(load) {
  stopRefresh();
  refreshTimer = setInterval(() => {
    if (!document.hidden && session.name) load().catch((e) => status(`Refresh failed: ${e.message}`));
  }, 10000);
}

function status(text) {
  const target = $('cluster').hidden ? $('overview-summary') : $('action-status');
  target.textContent = text;
}

async function loadOverview() {
  const [clusters, backups] = await Promise.all([listAll('/clusters'), listAll('/clusters/backups')]);
  const byCluster = new Map();
  for (const b of backups) {
    const list = byCluster.get(b.properties.clusterId) ?? [];
    list.push(b);
    byCluster.set(b.properties.clusterId, list);
  }
  overview.rows = clusters.map((c) => {
    const chains = byCluster.get(c.id) ?? [];
    const active = chains.find((b) => b.properties.isActive) ?? chains[0] ?? null;
    return {
      id: c.id,
      name: c.properties.displayName || c.id,
      state: c.metadata.state,
      major: c.properties.postgresVersion ?? active?.properties.version ?? '',
      location: c.properties.backupLocation ?? active?.properties.location ?? '',
      active,
      windowStart: active?.properties.earliestRecoveryTargetTime ?? null,
      streaming: !!active && active.properties.isActive && active.metadata.state === 'AVAILABLE',
      size: chains.reduce((sum, b) => sum + (b.properties.size ?? 0), 0),
    };
  });
  renderOverview();
}

function visibleRows() {
  const needle = overview.filter.toLowerCase();
  const rows = overview.rows.filter((r) => (!overview.state || r.state === overview.state)
    && (!needle || r.name.toLowerCase().includes(needle) || r.id.includes(needle) || r.location.toLowerCase().includes(needle)));
  const key = overview.sort;
  const direction = overview.ascending ? 1 : -1;
  rows.sort((a, b) => {
    const x = a[key] ?? '';
    const y = b[key] ?? '';
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return order !== 0 ? order * direction : a.name.localeCompare(b.name);
  });
  return rows;
}

function renderOverview() {
  const rows = visibleRows();
  const pages = Math.max(1, Math.ceil(rows.length / overview.pageSize));
  overview.page = Math.min(overview.page, pages - 1);
  const slice = rows.slice(overview.page * overview.pageSize, (overview.page + 1) * overview.pageSize);
  const focused = document.activeElement?.closest?.('#clusters tbody a')?.dataset.id;
  const body = $('clusters').tBodies[0];
  body.replaceChildren(...slice.map(overviewRow));
  if (focused) body.querySelector(`a[data-id="${CSS.escape(focused)}"]`)?.focus();
  $('overview-summary').textContent = rows.length === overview.rows.length
    ? `${rows.length} cluster${rows.length === 1 ? '' : 's'}`
    : `${rows.length} of ${overview.rows.length} clusters`;
  $('page-info').textContent = `Page ${overview.page + 1} of ${pages}`;
  $('prev-page').disabled = overview.page === 0;
  $('next-page').disabled = overview.page >= pages - 1;
  for (const th of $('clusters').tHead.rows[0].cells) {
    if (th.dataset.sort === overview.sort) th.setAttribute('aria-sort', overview.ascending ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  $('sort').value = overview.sort;
  $('sort-direction').textContent = overview.ascending ? 'ascending' : 'descending';
  for (const row of slice) loadLastBaseBackup(row).catch((e) => status(`Loading a base backup failed: ${e.message}`));
  loadStatus(slice).catch((e) => status(`Loading the WAL status failed: ${e.message}`));
}

function overviewRow(r) {
  const windowStart = r.windowStart
    ? el('td', { 'data-label': 'Window start', title: formatLocal(Date.parse(r.windowStart)) }, formatUtc(Date.parse(r.windowStart)),
      el('span', { class: 'sub', text: ago(r.windowStart) }))
    : el('td', { 'data-label': 'Window start', text: 'none yet' });
  return el('tr', { 'data-cluster': r.id },
    el('td', { 'data-label': 'Cluster' }, el('a', { href: `#/clusters/${encodeURIComponent(r.id)}`, 'data-id': r.id, text: r.name }),
      el('span', { class: 'sub', text: r.id })),
    el('td', { 'data-label': 'State' }, stateBadge(r.state)),
    el('td', { 'data-label': 'PostgreSQL', text: r.major || '—' }),
    el('td', { 'data-label': 'Location', text: r.location || '—' }),
    el('td', { 'data-label': 'Last base backup', class: 'last-base-backup' }, baseBackupSummary(r.active ? overview.baseBackups.get(r.active.id) : null)),
    windowStart,
    el('td', { 'data-label': 'Window end', class: 'window-end' }, ...windowEnd(r, overview.status.get(r.id))),
    el('td', { 'data-label': 'Stored', class: 'num', text: megabytes(r.size) }));
}

/** The window's end and the WAL lag, as this instance's backup engine knows them; else what the API tells. */
function windowEnd(r, s) {
  if (s?.windowEnd) {
    const lag = s.streaming
      ? `WAL lag ${s.walLagSeconds.toFixed(1)} s${s.walLagBytes > 0 ? ` · ${bytes(s.walLagBytes)}` : ''}`
      : `streaming interrupted ${Math.round(s.walLagSeconds)} s ago`;
    return [formatUtc(Date.parse(s.windowEnd)), el('span', { class: 'sub', text: lag })];
  }
  return [r.streaming ? 'now (streaming)' : (r.windowStart ? 'see timeline' : '—')];
}

async function loadStatus(rows) {
  if (rows.length === 0) return;
  const query = rows.map((r) => `cluster=${encodeURIComponent(r.id)}`).join('&');
  const { data } = await request('GET', `/ui/api/status?${query}`);
  for (const s of data.items) {
    overview.status.set(s.clusterId, s);
    const row = overview.rows.find((r) => r.id === s.clusterId);
    const cell = $('clusters').querySelector(`tr[data-cluster="${CSS.escape(s.clusterId)}"] td.window-end`);
    if (row && cell) cell.replaceChildren(...windowEnd(row, s));
  }
}

function baseBackupSummary(b) {
  if (b === undefined) return el('span', { class: 'muted', text: '…' });
  if (b === null) return el('span', { class: 'muted', text: 'none' });
  const p = b.properties;
  const parts = [p.type, bytes(p.storedBytes)];
  if (p.durationSeconds !== undefined) parts.push(duration(p.durationSeconds));
  return el('span', {}, formatUtc(Date.parse(p.startTime)), ' ', b.metadata.state === 'AVAILABLE' ? null : stateBadge(b.metadata.state),
    el('span', { class: 'sub', text: parts.join(' · ') }));
}

async function loadLastBaseBackup(row) {
  if (!row.active) return;
  if (Date.now() - (overview.loadedAt.get(row.active.id) ?? 0) < 5000) return;
  overview.loadedAt.set(row.active.id, Date.now());
  const { data } = await request('GET', `/clusters/backups/${encodeURIComponent(row.active.id)}/basebackups?limit=1`);
  const newest = data.items[0] ?? null;
  const before = JSON.stringify(overview.baseBackups.get(row.active.id));
  overview.baseBackups.set(row.active.id, newest);
  if (before === JSON.stringify(newest)) return;
  const cell = $('clusters').querySelector(`tr[data-cluster="${CSS.escape(row.id)}"] td.last-base-backup`);
  cell?.replaceChildren(baseBackupSummary(newest));
}

function sortBy(key) {
  if (overview.sort === key) overview.ascending = !overview.ascending;
  else {
    overview.sort = key;
    overview.ascending = key !== 'size' && key !== 'windowStart';
  }
  renderOverview();
}

// ---- one cluster: the timeline and the actions ------------------------------------------------------------------------
const timeline = { clusterId: null, cluster: null, chains: [], spanSeconds: 86400, end: null, chosen: null, lane: 0, following: false };

async function loadCluster() {
  const id = timeline.clusterId;
  const [{ data: cluster }, backups, { data: history }] = await Promise.all([
    request('GET', `/clusters/${encodeURIComponent(id)}`), listAll(`/clusters/${encodeURIComponent(id)}/backups`),
    request('GET', `/clusters/${encodeURIComponent(id)}/history`)]);
  const chains = await Promise.all(backups.map(async (b) => ({
    backup: b,
    bases: (await listAll(`/clusters/backups/${encodeURIComponent(b.id)}/basebackups`))
      .sort((x, y) => Date.parse(x.properties.startTime) - Date.parse(y.properties.startTime)),
  })));
  if (id !== timeline.clusterId) return;
  const first = timeline.cluster === null;
  timeline.cluster = cluster;
  timeline.chains = chainWindows(chains, Date.now(), history.items);
  if (first) {
    // The first view shows all of the backups' history when it fits a preset span, else the last 30 days.
    const oldest = Math.min(Date.now(), ...timeline.chains.map((x) => Date.parse(x.backup.metadata.createdDate)));
    const age = (Date.now() - oldest) / 1000;
    timeline.spanSeconds = [900, 3600, 21600, 86400, 604800, 2592000].find((s) => s >= age * 1.1) ?? 2592000;
  }
  renderCluster();
}

function renderCluster() {
  const c = timeline.cluster;
  $('cluster-title').textContent = c.properties.displayName || c.id;
  const active = timeline.chains.find((x) => x.backup.properties.isActive);
  $('cluster-facts').replaceChildren(
    el('span', {}, 'State ', stateBadge(c.metadata.state)),
    el('span', { text: `PostgreSQL ${c.properties.postgresVersion ?? active?.backup.properties.version ?? '—'}` }),
    el('span', { text: `Location ${c.properties.backupLocation}` }),
    el('span', { text: `Id ${c.id}` }),
    el('span', { text: active?.start ? `Window ${formatUtc(active.start)} → ${active.streaming ? 'now' : formatUtc(active.end)}` : 'No recovery window yet' }));
  $('backup-now').disabled = timeline.following || c.metadata.state === 'BUSY';
  redrawTimeline();
  renderChainsTable();
  renderHistory();
}

/** The history's periods as text, newest first (what the timeline draws, for every reader). */
function renderHistory() {
  const items = timeline.chains.flatMap((c) => c.periods.map((p) => ({ ...p, backup: c.backup.id })))
    .sort((a, b) => b.from - a.from);
  $('history').replaceChildren(...items.map((p) => el('li', { 'data-kind': p.kind },
    el('span', { class: `state state-${p.kind === 'interrupted' ? 'UNKNOWN' : p.kind.toUpperCase()}`, text: p.kind }),
    ` ${describePeriod(p)} (backup ${p.backup})`)));
  $('history-empty').hidden = items.length > 0;
}

/** The time span shown: [from, to] in ms, and its length. */
function currentView() {
  const now = Date.now();
  let span = timeline.spanSeconds * 1000;
  if (timeline.spanSeconds === 'all') {
    const earliest = Math.min(now - 3600000, ...timeline.chains.map((x) => Date.parse(x.backup.metadata.createdDate)));
    span = (now - earliest) * 1.05;
  }
  const to = timeline.end ?? now + span * 0.02;
  return { from: to - span, to, span, now };
}

function redrawTimeline() {
  const { from, to, now } = currentView();
  drawTimeline($('timeline'), { chains: timeline.chains, from, to, chosen: timeline.chosen, lane: timeline.lane, now });
  for (const b of document.querySelectorAll('.zoom button')) {
    b.setAttribute('aria-pressed', String(timeline.end === null && String(timeline.spanSeconds) === b.dataset.span));
  }
  renderPoint();
}

function renderChainsTable() {
  const rows = [];
  for (const chain of timeline.chains) {
    for (const b of [...chain.bases].reverse()) {
      const p = b.properties;
      rows.push(el('tr', {},
        el('td', { 'data-label': 'Base backup', text: p.label }),
        el('td', { 'data-label': 'Type', text: p.type }),
        el('td', { 'data-label': 'State' }, stateBadge(b.metadata.state)),
        el('td', { 'data-label': 'Started (UTC)', text: formatUtc(Date.parse(p.startTime)) }),
        el('td', { 'data-label': 'Duration', text: duration(p.durationSeconds) || '—' }),
        el('td', { 'data-label': 'Stored', class: 'num', text: bytes(p.storedBytes) }),
        el('td', { 'data-label': 'Backup', text: `${chain.backup.id}${chain.backup.properties.isActive ? ' (active)' : ''}` })));
    }
  }
  $('chains').tBodies[0].replaceChildren(...rows);
}

function renderPoint() {
  const chosen = timeline.chosen;
  if (chosen === null) {
    $('point-text').textContent = 'Choose a point on the timeline, or type a time above.';
    $('restore-here').disabled = true;
    return;
  }
  const chain = timeline.chains[timeline.lane];
  const start = chain ? restoreStart(chain, chosen) : null;
  if (document.activeElement !== $('point-time')) $('point-time').value = formatUtc(chosen).replace(' UTC', '');
  $('point-text').textContent = !chain
    ? 'No backup.'
    : start
      ? `${formatUtc(chosen)} (local ${formatLocal(chosen)}): a restore there starts from base backup ${start.properties.label} `
        + `(${start.properties.type}, completed ${formatUtc(Date.parse(start.properties.stopTime))}) of backup ${chain.backup.id}.`
      : `${formatUtc(chosen)} (local ${formatLocal(chosen)}) is outside the recovery window of backup ${chain.backup.id}.`;
  for (const p of chain ? periodsAt(chain, chosen, Date.now()) : []) $('point-text').textContent += ` ${describePeriod(p)}.`;
  $('restore-here').disabled = !start || timeline.following;
}

function choose(time, lane) {
  timeline.chosen = Math.floor(time / 1000) * 1000;
  if (lane !== undefined) timeline.lane = Math.max(0, Math.min(timeline.chains.length - 1, lane));
  redrawTimeline();
}

/** A time typed as UTC: "2026-12-03 13:45:12" (or ISO 8601 with its own offset). */
function onPointTyped() {
  const text = $('point-time').value.trim();
  const iso = text.replace(' ', 'T');
  const time = Date.parse(/(Z|[+-]\d\d:\d\d)$/i.test(iso) ? iso : `${iso}Z`);
  if (!/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?/.test(text) || Number.isNaN(time)) {
    $('point-text').textContent = 'Not a time: write it as YYYY-MM-DD HH:MM:SS, in UTC.';
    $('restore-here').disabled = true;
    return;
  }
  choose(time);
  keepChosenInView();
}

function onTimelineKey(event) {
  const { span, now } = currentView();
  const step = event.shiftKey ? span / 10 : span / 100;
  const current = timeline.chosen ?? now;
  const handled = {
    ArrowLeft: () => choose(current - step),
    ArrowRight: () => choose(Math.min(now, current + step)),
    ArrowUp: () => choose(current, timeline.lane - 1),
    ArrowDown: () => choose(current, timeline.lane + 1),
    Home: () => { const c = timeline.chains[timeline.lane]; if (c?.start) choose(c.start + 1000); },
    End: () => { const c = timeline.chains[timeline.lane]; choose(!c || c.streaming ? now : Math.min(now, c.end ?? now)); },
    '+': () => zoom(0.5, current),
    '-': () => zoom(2, current),
    Enter: () => { if (!$('restore-here').disabled) confirmRestore(); },
  }[event.key];
  if (!handled) return;
  event.preventDefault();
  handled();
  keepChosenInView();
}

function keepChosenInView() {
  if (timeline.chosen === null) return;
  const { from, to, span, now } = currentView();
  if (timeline.chosen >= from && timeline.chosen <= to) return;
  const end = timeline.chosen < from ? timeline.chosen + span * 0.9 : timeline.chosen + span * 0.1;
  timeline.spanSeconds = Math.round(span / 1000);
  timeline.end = end >= now ? null : end;
  redrawTimeline();
}

/** Zooms by <factor> (below 1: in) keeping the moment <around> (default: the right edge) where it is. */
function zoom(factor, around) {
  const { from, span, now } = currentView();
  const pivot = around ?? from + span;
  const ratio = Math.max(0, Math.min(1, (pivot - from) / span));
  const newSpan = Math.min(5 * 365 * 86400000, Math.max(300000, span * factor));
  const end = pivot - ratio * newSpan + newSpan;
  timeline.spanSeconds = Math.round(newSpan / 1000);
  timeline.end = end >= now ? null : end;
  redrawTimeline();
}

function onTimelineWheel(event) {
  event.preventDefault();
  zoom(event.deltaY > 0 ? 1.25 : 0.8, Number($('timeline').dataset.hover || NaN) || undefined);
}

function onTimelinePointer(event, click) {
  const svg = $('timeline').querySelector('svg');
  if (!svg) return;
  const hit = svg.pgvaultHitTest?.(event.clientX, event.clientY);
  const tip = $('tooltip');
  if (!hit) {
    tip.hidden = true;
    return;
  }
  $('timeline').dataset.hover = String(hit.time);
  if (click) {
    choose(hit.time, hit.lane);
    tip.hidden = true;
    return;
  }
  const chain = timeline.chains[hit.lane];
  const start = chain ? restoreStart(chain, hit.time) : null;
  const { span, now } = currentView();
  const periods = periodsAt(chain, hit.time, now, (span / Math.max(1, $('timeline').clientWidth)) * 3);
  tip.textContent = `${formatUtc(hit.time)} · local ${formatLocal(hit.time)} — `
    + (start ? `restore starts from ${start.properties.type} base backup ${start.properties.label}` : 'outside the recovery window')
    + periods.map((p) => `. ${describePeriod(p)}`).join('');
  tip.hidden = false;
  tip.style.left = `${Math.min(window.innerWidth - tip.offsetWidth - 8, event.clientX + 12)}px`;
  tip.style.top = `${event.clientY + 16}px`;
}

async function backUpNow() {
  const id = timeline.clusterId;
  $('backup-now').disabled = true;
  try {
    const { data, response } = await request('POST', `/clusters/${encodeURIComponent(id)}/backups`);
    const label = data.id;
    status(`Base backup ${label} started.`);
    await loadCluster();
    const followed = new URL(response.headers.get('Location'), window.location.href).pathname;
    await follow(async () => {
      const { data: b } = await request('GET', followed.slice(root.length));
      status(`Base backup ${label}: ${b.metadata.state}`);
      return b.metadata.state !== 'BUSY' ? b : null;
    }, 6 * 3600);
    await loadCluster();
  } catch (e) {
    status(`Back up now was refused: ${e.message}`);
  } finally {
    $('backup-now').disabled = false;
  }
}

/** Polls every 2 s until <check> gives a result, at most <seconds>. */
async function follow(check, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const done = await check();
    if (done) return done;
    if (Date.now() > until) throw new Error('still running after the page stopped waiting; see the timeline');
    await new Promise((resolve) => { setTimeout(resolve, 2000); });
  }
}

function confirmRestore() {
  const chain = timeline.chains[timeline.lane];
  const time = timeline.chosen;
  if (!chain || time === null) return;
  const name = timeline.cluster.properties.displayName || timeline.cluster.id;
  $('confirm-title').textContent = `Restore ${name}?`;
  $('confirm-text').textContent = `Cluster ${name} (${timeline.cluster.id}) will be restored from backup ${chain.backup.id} to `
    + `${formatUtc(time)} (your local time: ${formatLocal(time)}).`;
  const dialog = $('confirm');
  dialog.returnValue = '';
  dialog.showModal();
}

async function onConfirmClosed() {
  if ($('confirm').returnValue !== 'ok') {
    $('restore-here').focus();
    return;
  }
  const chain = timeline.chains[timeline.lane];
  const before = timeline.chains.find((x) => x.backup.properties.isActive)?.backup.id;
  const target = new Date(timeline.chosen).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const id = encodeURIComponent(timeline.clusterId);
  timeline.following = true;
  renderPoint();
  $('backup-now').disabled = true;
  try {
    await request('POST', `/clusters/${id}/restore`, { body: { backupId: chain.backup.id, recoveryTargetTime: target } });
    status(`Restore to ${formatUtc(timeline.chosen)} started: the cluster is BUSY until it has replayed to that point.`);
    // The cluster is BUSY while it is restored; a restore that worked leaves it on a new timeline, which PgVault backs up
    // as a new active backup. One that failed puts the old data directory back (the server log says why).
    const started = Date.now();
    let seenBusy = false;
    let settled = null;
    const outcome = await follow(async () => {
      const [{ data: cluster }, backups] = await Promise.all([request('GET', `/clusters/${id}`), listAll(`/clusters/${id}/backups`)]);
      const state = cluster.metadata.state;
      seenBusy ||= state === 'BUSY';
      status(`Restore to ${target}: cluster ${state}`);
      if (state === 'BUSY' || (!seenBusy && Date.now() - started < 10000)) return null;
      const active = backups.find((b) => b.properties.isActive);
      if (active && active.id !== before && state === 'AVAILABLE') return { ok: true, backup: active.id };
      settled ??= Date.now();
      return state === 'FAILED' || Date.now() - settled > 120000 ? { ok: false, state } : null;
    }, 6 * 3600);
    status(outcome.ok
      ? `Restore to ${target} finished: the cluster is AVAILABLE on a new timeline, backed up as backup ${outcome.backup}.`
      : `Restore to ${target} did not complete: the cluster (${outcome.state}) runs on its data from before; see the server log.`);
  } catch (e) {
    status(`Restore refused: ${e.message}`);
  } finally {
    timeline.following = false;
    timeline.lane = 0;
    await loadCluster().catch(() => {});
  }
}

// ---- routing --------------------------------------------------------------------------------------------------------
async function route() {
  if (!session.name) return;
  const match = /^#\/clusters\/([^/]+)$/.exec(location.hash);
  try {
    if (match) {
      const id = decodeURIComponent(match[1]);
      if (timeline.clusterId !== id) Object.assign(timeline, { clusterId: id, chosen: null, lane: 0, end: null, cluster: null, chains: [] });
      $('action-status').textContent = '';
      await loadCluster();
      show('cluster');
      redrawTimeline(); // now that it has a width
      startRefresh(loadCluster);
    } else {
      timeline.clusterId = null;
      await loadOverview();
      show('overview');
      startRefresh(loadOverview);
    }
    $('main').focus();
  } catch (e) {
    if (e.status === 404 && match) {
      show('cluster');
      $('cluster-title').textContent = 'Cluster not found';
      $('cluster-facts').textContent = e.message;
    } else if (e.status !== 401) {
      show(match ? 'cluster' : 'overview');
      status(`Loading failed: ${e.message}`);
    }
  }
}

async function start() {
  $('sign-in-form').addEventListener('submit', onSignIn);
  for (const radio of document.querySelectorAll('input[name="kind"]')) radio.addEventListener('change', onCredentialKind);
  $('sign-out').addEventListener('click', onSignOut);
  $('filter').addEventListener('input', (e) => { overview.filter = e.target.value.trim(); overview.page = 0; renderOverview(); });
  $('state-filter').addEventListener('change', (e) => { overview.state = e.target.value; overview.page = 0; renderOverview(); });
  $('sort').addEventListener('change', (e) => sortBy(e.target.value));
  $('sort-direction').addEventListener('click', () => { overview.ascending = !overview.ascending; renderOverview(); });
  for (const th of document.querySelectorAll('#clusters th[data-sort] button')) {
    th.addEventListener('click', () => sortBy(th.parentElement.dataset.sort));
  }
  $('prev-page').addEventListener('click', () => { overview.page -= 1; renderOverview(); });
  $('next-page').addEventListener('click', () => { overview.page += 1; renderOverview(); });
  for (const b of document.querySelectorAll('.zoom button')) {
    b.addEventListener('click', () => {
      timeline.spanSeconds = b.dataset.span === 'all' ? 'all' : Number(b.dataset.span);
      timeline.end = null;
      redrawTimeline();
    });
  }
  const area = $('timeline');
  area.tabIndex = 0;
  area.setAttribute('role', 'application');
  area.setAttribute('aria-label', 'Recovery window timeline. Left and right arrows choose a point in time, up and down '
    + 'choose the backup, plus and minus zoom, Enter restores to the point.');
  area.addEventListener('keydown', onTimelineKey);
  area.addEventListener('wheel', onTimelineWheel, { passive: false });
  area.addEventListener('mousemove', (e) => onTimelinePointer(e, false));
  area.addEventListener('mouseleave', () => { $('tooltip').hidden = true; });
  area.addEventListener('click', (e) => onTimelinePointer(e, true));
  window.addEventListener('resize', () => { if (!$('cluster').hidden) redrawTimeline(); });
  $('backup-now').addEventListener('click', backUpNow);
  $('restore-here').addEventListener('click', confirmRestore);
  $('point-time').addEventListener('change', onPointTyped);
  $('point-time').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); onPointTyped(); } });
  $('confirm').addEventListener('close', onConfirmClosed);
  window.addEventListener('hashchange', route);

  const { data } = await request('GET', '/ui/api/session');
  if (data.signedIn) {
    signedIn(data);
    await route();
  } else {
    signedOut();
  }
}

start().catch((e) => recordProblem(`start: ${e.message}`));
