// pool_manager/web/app.js — the rgpu pool dashboard: logs in with a token, reads the pool's
// JSON API (/api/v1/, pool_manager/dashboard_api.h) and shows what the token's role may see.
// Data only ever reaches the page as text (textContent, SVG attributes), never as markup.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('rgpu-token') || '';
let timer = 0;

async function api(path) {
  const r = await fetch('/api/v1/' + path, { headers: { Authorization: 'Bearer ' + token } });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const err = new Error((body && body.error) || ('HTTP ' + r.status));
    err.status = r.status;
    throw err;
  }
  return body;
}

function text(id, value) { $(id).textContent = String(value); }
function when(unix) { return unix ? new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 19) : '–'; }
function gib(bytes) { return (bytes / 2 ** 30).toFixed(2) + ' GiB'; }
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

function fillTable(table, headers, rows) {
  const head = table.tHead.rows[0];
  if (headers) {
    head.replaceChildren(...headers.map((h) => { const th = document.createElement('th'); th.textContent = h; return th; }));
  }
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    if (r.key) tr.dataset.key = r.key;
    for (const cell of r.cells) {
      const td = document.createElement('td');
      td.textContent = cell;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}
function label(parent, x, y, s, anchor) {
  const t = el('text', { x, y, 'text-anchor': anchor || 'start' }, parent);
  t.textContent = s;
  return t;
}

// A bar chart of [{label, value}] (value a number), titled with the largest value's text.
function barChart(svg, bars, unit) {
  const W = 640, H = 180, L = 60, B = 24, T = 12;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  el('line', { class: 'axis', x1: L, y1: H - B, x2: W - 8, y2: H - B }, svg);
  if (!bars.length) { label(svg, W / 2, H / 2, 'nothing yet', 'middle'); return; }
  const top = bars.reduce((a, b) => (b.value > a.value ? b : a), bars[0]);
  const max = Math.max(top.value, 1e-9);
  const slot = (W - L - 8) / bars.length, w = Math.min(48, slot * 0.7);
  label(svg, L + 4, T + 4, 'most ' + top.text + ' ' + unit, 'start').setAttribute('class', 'top');
  bars.forEach((b, i) => {
    const h = (H - B - T) * (b.value / max);
    const x = L + i * slot + (slot - w) / 2;
    const r = el('rect', { class: 'bar', x, y: H - B - h, width: w, height: Math.max(h, 0.5) }, svg);
    r.dataset.value = String(b.value);
    const tip = el('title', {}, r);
    tip.textContent = b.label + ': ' + b.text;
    label(svg, x + w / 2, H - 8, b.label, 'middle');
  });
}

// One GPU's series: busy share (0..1) and memory leased over time, as two lines.
function utilChart(container, s) {
  const box = document.createElement('div');
  box.className = 'gpu-chart';
  const h = document.createElement('h3');
  h.textContent = `${s.provider} · GPU ${s.gpu} (${s.gpu_name}) — busy % (red), memory leased of ${gib(s.memory_lent)} (blue)`;
  box.appendChild(h);
  const peak = document.createElement('p');
  peak.className = 'hint';
  const busiest = s.points.reduce((a, p) => Math.max(a, p[1]), 0);
  const most = s.points.reduce((a, p) => Math.max(a, p[2]), 0);
  const peakLeased = document.createElement('span');
  peakLeased.className = 'peak-leased';
  peakLeased.textContent = gib(most);
  peak.append(`busiest ${(100 * busiest).toFixed(1)}% · most memory leased `, peakLeased);
  box.appendChild(peak);
  const svg = el('svg', { class: 'chart util-chart', role: 'img' });
  svg.dataset.provider = s.provider;
  svg.dataset.points = String(s.points.length);
  box.appendChild(svg);
  container.appendChild(box);
  const W = 640, H = 180, L = 44, B = 24, T = 12;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  el('line', { class: 'axis', x1: L, y1: H - B, x2: W - 8, y2: H - B }, svg);
  el('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }, svg);
  label(svg, L - 4, T + 4, '100%', 'end');
  label(svg, L - 4, H - B, '0', 'end');
  const pts = s.points;
  if (pts.length < 2) { label(svg, W / 2, H / 2, 'collecting samples…', 'middle'); return; }
  const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  const x = (t) => L + (W - L - 8) * ((t - t0) / Math.max(t1 - t0, 1));
  const y = (f) => H - B - (H - B - T) * Math.min(Math.max(f, 0), 1);
  const line = (f) => pts.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(f(p)).toFixed(1)).join(' ');
  el('path', { class: 'busy', d: line((p) => p[1]) }, svg);
  el('path', { class: 'mem', d: line((p) => (s.memory_lent ? p[2] / s.memory_lent : 0)) }, svg);
  label(svg, L, H - 8, when(t0).slice(11), 'start');
  label(svg, W - 8, H - 8, when(t1).slice(11), 'end');
}

// Exact sums of money strings ("12.345678", six decimals) in integer micro-units.
function sumMoney(rows, field) {
  const micro = rows.reduce((a, r) => {
    const [whole, frac = ''] = String(r[field]).replace('-', '').split('.');
    const v = BigInt(whole) * 1000000n + BigInt((frac + '000000').slice(0, 6));
    return a + (String(r[field]).startsWith('-') ? -v : v);
  }, 0n);
  const neg = micro < 0n, m = neg ? -micro : micro;
  return (neg ? '-' : '') + String(m / 1000000n) + '.' + String(m % 1000000n).padStart(6, '0');
}

function byDay(rows, field) {
  return rows.filter((r) => r.kind === 'day').sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((r) => ({ label: r.key.slice(5), value: Number(r[field] || 0), text: r[field] || '0.000000' }));
}

async function showProvider(me) {
  const [balances, usage, payouts] = await Promise.all([api('balances'), api('usage?by=day'), api('payouts')]);
  const mine = balances.filter((b) => b.kind === 'provider');
  // One provider (the usual case): its exact figures; several: their sum.
  const one = mine.length === 1 ? mine[0] : null;
  text('balance-earned', one ? one.earned : sumMoney(mine, 'earned'));
  text('balance-paid', one ? one.paid : sumMoney(mine, 'paid'));
  text('balance-pending', one ? one.pending : sumMoney(mine, 'pending'));
  text('balance-sessions', mine.reduce((a, b) => a + b.sessions, 0));
  barChart($('earnings-chart'), byDay(usage, 'earnings'), 'credits');
  fillTable($('payouts'), null, payouts.map((p) => ({ key: String(p.index), cells: [when(p.time), p.provider, p.amount, p.ref] })));
}

async function showUser(me) {
  const [balances, usage] = await Promise.all([api('balances'), api('usage?by=day')]);
  const b = balances.find((x) => x.kind === 'user' && x.id === me.token_id) || { spent: '0.000000', credit_limit: '0.000000', sessions: 0 };
  text('spend-total', b.spent);
  text('spend-limit', Number(b.credit_limit) > 0 ? b.credit_limit : 'none');
  text('spend-sessions', b.sessions);
  barChart($('spend-chart'), byDay(usage, 'cost'), 'credits');
}

async function showAdmin() {
  const l = await api('ledger');
  text('ledger-size', l.size);
  text('ledger-signature', l.signature_ok ? 'valid' : 'INVALID');
  text('ledger-audit', l.audit);
  text('ledger-root', l.root);
}

async function showGpus() {
  const [providers, util] = await Promise.all([api('providers'), api('utilisation?since=' + Math.floor(Date.now() / 1000 - 6 * 3600))]);
  const rows = [];
  for (const p of providers)
    for (const g of p.gpus)
      rows.push({ key: p.id + '/' + g.index, cells: [p.name, p.state, `${g.index} ${g.name}`, gib(g.memory_lent), gib(g.memory_leased), g.sessions] });
  fillTable($('providers'), null, rows);
  const box = $('util-charts');
  box.replaceChildren();
  for (const s of util) utilChart(box, s);
}

async function showSessions(me) {
  const rows = await api('sessions');
  const head = ['Lease', 'Provider', 'GPU', 'State', 'Started', 'Wall s', 'Busy s', 'Moved'];
  if (me.role === 'admin') head.splice(1, 0, 'User');
  if (me.role !== 'provider') head.push('Cost');
  if (me.role !== 'user') head.push('Earnings');
  head.push('Ended because');
  fillTable($('sessions'), head, rows.map((s) => {
    const cells = [s.lease_id.slice(0, 12), s.provider, `${s.gpu} ${s.gpu_model}`, s.state, when(s.started),
      s.wall_s.toFixed(3), s.busy_s.toFixed(3), bytes(s.bytes_in + s.bytes_out)];
    if (me.role === 'admin') cells.splice(1, 0, s.user);
    if (me.role !== 'provider') cells.push(s.cost);
    if (me.role !== 'user') cells.push(s.earnings);
    cells.push(s.end_reason || (s.state === 'active' ? 'running' : ''));
    return { key: s.lease_id, cells };
  }));
}

async function refresh() {
  try {
    const me = await api('whoami');
    text('who', `${me.name || me.token_id} (${me.role})`);
    $('login-view').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    document.body.dataset.role = me.role;
    $('provider-view').hidden = me.role !== 'provider';
    $('user-view').hidden = me.role !== 'user';
    $('admin-view').hidden = me.role !== 'admin';
    $('gpus-view').hidden = me.role === 'user';
    const work = [showSessions(me)];
    if (me.role === 'provider') work.push(showProvider(me));
    if (me.role === 'user') work.push(showUser(me));
    if (me.role === 'admin') work.push(showAdmin());
    if (me.role !== 'user') work.push(showGpus());
    await Promise.all(work);
    text('load-error', '');
    document.body.dataset.loaded = String(Date.now());
  } catch (e) {
    if (e.status === 401) { logout(e.message); return; }
    text('load-error', 'could not load: ' + e.message);
  }
}

function logout(why) {
  token = '';
  sessionStorage.removeItem('rgpu-token');
  clearInterval(timer);
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  text('who', '');
  text('login-error', why || '');
  delete document.body.dataset.loaded;
}

function start() {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    if (!token) { text('login-error', 'enter a token'); return; }
    sessionStorage.setItem('rgpu-token', token);
    text('login-error', '');
    clearInterval(timer);
    refresh();
    timer = setInterval(refresh, 10000);
  });
  $('logout').addEventListener('click', () => logout(''));
  if (token) { refresh(); timer = setInterval(refresh, 10000); } else { logout(''); }
}

document.addEventListener('DOMContentLoaded', start);
