// roster dashboard. Reads the node list from the server-sent events at
// /v1/public/events with fetch() (EventSource cannot send the access token
// header) and keeps the table in step with every membership change.
'use strict';

(() => {
  const TOKEN_KEY = 'roster.token';
  const TOKEN_HEADER = 'AxonIQ-Access-Token';
  const EVENTS = '/v1/public/events';
  const STALE_MS = 45000; // three missed pings: the stream is dead
  const MAX_DELAY_MS = 5000;
  const STATUSES = ['alive', 'suspect', 'failed', 'left'];

  const $ = (id) => document.getElementById(id);
  const state = { nodes: new Map(), self: '', me: null, meLoading: false, retry: 1000 };

  // ---- HTTP ----------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(code ? `${code}: ${message}` : message);
      this.status = status;
      this.code = code;
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

  function headers(accept) {
    const h = { Accept: accept || 'application/json' };
    const t = token();
    if (t) h[TOKEN_HEADER] = t;
    return h;
  }

  async function apiError(res) {
    let body = null;
    try { body = await res.json(); } catch (_) { /* not our JSON */ }
    if (body && body.code) return new ApiError(res.status, body.code, body.message || '');
    return new ApiError(res.status, '', `${res.status} ${res.statusText}`.trim());
  }

  // needsToken reads a 403: true when it asked the user for a token and
  // the request should be tried again.
  async function needsToken(res) {
    const err = await apiError(res);
    if (err.code !== 'AXONIQ-1000' && err.code !== 'AXONIQ-1001') throw err;
    await askToken(token() ? 'That token was refused (' + err.code + '). Try another one.' : '');
    return true;
  }

  async function call(method, path) {
    for (;;) {
      const res = await fetch(path, { method, headers: headers(), cache: 'no-store' });
      if (res.status === 403 && await needsToken(res)) continue;
      if (!res.ok) throw await apiError(res);
      const text = await res.text();
      return text ? JSON.parse(text) : null;
    }
  }

  // ---- Token ---------------------------------------------------------

  let tokenPrompt = null;

  // askToken opens the token dialog once, however many requests wait on it.
  function askToken(message) {
    if (tokenPrompt) return tokenPrompt;
    tokenPrompt = new Promise((resolve) => {
      const dlg = $('token');
      const err = dlg.querySelector('.error');
      err.textContent = message;
      err.hidden = !message;
      $('token-input').value = '';
      dlg.addEventListener('close', () => {
        const v = $('token-input').value.trim();
        if (v) sessionStorage.setItem(TOKEN_KEY, v);
        $('forget').hidden = !token();
        tokenPrompt = null;
        resolve();
      }, { once: true });
      dlg.showModal();
    });
    return tokenPrompt;
  }

  // ---- Events --------------------------------------------------------

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // readEvents parses a text/event-stream body and calls onEvent for
  // each event; it returns when the server ends the stream.
  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let event = '';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length) onEvent({ event: event || 'message', data: data.join('\n') });
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? '' : line.slice(i + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'retry' && /^\d+$/.test(val)) state.retry = Number(val);
      }
    }
  }

  async function stream() {
    let delay = 0;
    for (;;) {
      if (delay) await sleep(delay);
      const ctl = new AbortController();
      let watchdog = 0;
      const kick = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctl.abort(), STALE_MS);
      };
      try {
        setConn('connecting', delay ? 'reconnecting…' : 'connecting…');
        const res = await fetch(EVENTS, { headers: headers('text/event-stream'), cache: 'no-store', signal: ctl.signal });
        if (res.status === 403 && await needsToken(res)) { delay = 0; continue; }
        if (!res.ok) throw await apiError(res);
        kick();
        if (!state.me && !state.meLoading) loadMe();
        await readEvents(res.body, (ev) => {
          kick();
          if (ev.event === 'nodes') delay = 0;
          handle(ev);
        });
        throw new Error('the node ended the stream');
      } catch (e) {
        const why = ctl.signal.aborted ? 'no data for ' + STALE_MS / 1000 + ' s' : e.message;
        setConn('lost', 'reconnecting…');
        showLost(why);
        delay = Math.min(Math.max(state.retry, delay * 2), MAX_DELAY_MS);
      } finally {
        clearTimeout(watchdog);
        ctl.abort();
      }
    }
  }

  function handle(ev) {
    let data;
    try { data = JSON.parse(ev.data); } catch (_) { return; }
    if (ev.event === 'nodes') {
      state.nodes = new Map(data.map((n) => [n.name, n]));
      setConn('live', 'live');
      $('banner').hidden = true;
      render();
    } else if (ev.event === 'change') {
      apply(data);
    }
  }

  const changeText = {
    join: (n) => `${n} is alive`,
    suspect: (n) => `${n} is suspect`,
    fail: (n) => `${n} failed`,
    leave: (n) => `${n} left`,
    remove: (n) => `${n} was unregistered`,
  };

  function apply(change) {
    const n = change.node;
    if (change.type === 'remove') state.nodes.delete(n.name);
    else state.nodes.set(n.name, n);
    render();
    flash(n.name);
    const text = changeText[change.type];
    if (text) toast(text(n.name), change.type);
  }

  // ---- Rendering -----------------------------------------------------

  function setConn(kind, text) {
    $('conn').dataset.state = kind;
    $('conn-text').textContent = text;
  }

  function hostPort(host, port) {
    return (host.includes(':') ? `[${host}]` : host) + ':' + port;
  }

  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    const d = Math.floor(s / 86400);
    return d === 1 ? 'yesterday' : `${d} days ago`;
  }

  const ROW = `
    <td class="status-cell"><span class="status"></span></td>
    <td class="name-cell"><span class="name"></span><span class="badge" hidden>this node</span><span class="version"></span></td>
    <td data-label="Client" class="addr client"></td>
    <td data-label="Internal" class="addr internal"></td>
    <td data-label="HTTP" class="http"><a></a></td>
    <td data-label="Clients" class="num clients"></td>
    <td data-label="Tags" class="tags"></td>
    <td data-label="Since" class="since"></td>
    <td class="actions-cell"><button type="button" class="unregister">Unregister</button></td>`;

  // tagText renders placement tags as "name=value" pairs, sorted.
  function tagText(tags) {
    return Object.keys(tags || {}).sort().map((k) => `${k}=${tags[k]}`).join(', ');
  }

  function newRow(name) {
    const tr = document.createElement('tr');
    tr.dataset.node = name;
    tr.innerHTML = ROW; // a fixed template: node data only ever goes in as text
    tr.querySelector('.unregister').addEventListener('click', () => confirmUnregister(name));
    return tr;
  }

  function fill(tr, n) {
    const self = n.name === state.self;
    tr.dataset.status = n.status;
    tr.classList.toggle('self', self);
    const st = tr.querySelector('.status');
    st.className = 'status ' + n.status;
    st.textContent = n.status;
    tr.querySelector('.name').textContent = n.name;
    tr.querySelector('.badge').hidden = !self;
    tr.querySelector('.version').textContent = n.version ? 'v' + n.version : '';
    tr.querySelector('.client').textContent = hostPort(n.hostName, n.grpcPort);
    tr.querySelector('.internal').textContent = hostPort(n.internalHostName, n.grpcInternalPort);
    const a = tr.querySelector('.http a');
    a.textContent = String(n.httpPort);
    a.href = `${location.protocol}//${n.hostName.includes(':') ? `[${n.hostName}]` : n.hostName}:${n.httpPort}/`;
    a.title = `${n.name}'s dashboard`;
    tr.querySelector('.clients').textContent = String(n.clients || 0);
    tr.querySelector('.tags').textContent = tagText(n.tags);
    tr.classList.toggle('draining', !!n.draining);
    const since = tr.querySelector('.since');
    since.dataset.since = n.since;
    since.title = new Date(n.since).toLocaleString();
    since.textContent = ago(n.since);
  }

  function render() {
    const rows = $('rows');
    const existing = new Map([...rows.children].map((tr) => [tr.dataset.node, tr]));
    const sorted = [...state.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const n of sorted) {
      const tr = existing.get(n.name) || newRow(n.name);
      existing.delete(n.name);
      fill(tr, n);
      rows.appendChild(tr); // moves it into sorted order
    }
    for (const tr of existing.values()) tr.remove();
    $('empty').hidden = sorted.length > 0;
    renderSummary(sorted);
  }

  function renderSummary(nodes) {
    const count = { total: nodes.length };
    for (const s of STATUSES) count[s] = nodes.filter((n) => n.status === s).length;
    const box = $('summary');
    box.replaceChildren();
    for (const [key, label] of [['total', 'nodes'], ...STATUSES.map((s) => [s, s])]) {
      const chip = document.createElement('div');
      chip.className = `chip ${key}${count[key] === 0 && key !== 'total' ? ' zero' : ''}`;
      chip.dataset.count = key;
      const b = document.createElement('b');
      b.textContent = String(count[key]);
      const span = document.createElement('span');
      span.textContent = label;
      chip.append(b, span);
      box.append(chip);
    }
    const bad = count.failed + count.suspect;
    const name = state.me ? state.me.clusterName : '';
    document.title = (bad ? `(${bad} down) ` : '') + 'roster' + (name ? ' · ' + name : '');
  }

  function flash(name) {
    const tr = $('rows').querySelector(`tr[data-node="${CSS.escape(name)}"]`);
    if (!tr) return;
    tr.classList.add('flash');
    setTimeout(() => tr.classList.remove('flash'), 60);
  }

  function toast(text, kind) {
    const el = document.createElement('div');
    el.className = 'toast ' + (kind || '');
    el.textContent = text;
    $('toasts').append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 9000 : 4500);
  }

  function showLost(why) {
    const banner = $('banner');
    banner.replaceChildren();
    const who = state.self || 'the node';
    banner.append(`Lost the connection to ${who} (${why}); retrying. `);
    const others = [...state.nodes.values()].filter((n) => n.name !== state.self && n.status === 'alive');
    if (others.length) {
      banner.append('Other nodes: ');
      others.forEach((n, i) => {
        const a = document.createElement('a');
        a.href = `${location.protocol}//${n.hostName}:${n.httpPort}/`;
        a.textContent = n.name;
        banner.append(i ? ', ' : '', a);
      });
    }
    banner.hidden = false;
  }

  // ---- Actions -------------------------------------------------------

  function confirmUnregister(name) {
    const dlg = $('confirm');
    dlg.querySelector('.target').textContent = name;
    $('confirm-ok').textContent = `Unregister ${name}`;
    dlg.returnValue = '';
    dlg.onclose = async () => {
      if (dlg.returnValue !== 'ok') return;
      const btn = $('rows').querySelector(`tr[data-node="${CSS.escape(name)}"] .unregister`);
      if (btn) { btn.disabled = true; btn.textContent = 'Unregistering…'; }
      try {
        await call('DELETE', '/v1/cluster/' + encodeURIComponent(name));
      } catch (e) {
        toast(`Cannot unregister ${name}: ${e.message}`, 'error');
        if (btn) { btn.disabled = false; btn.textContent = 'Unregister'; }
      }
    };
    dlg.showModal();
    $('confirm-cancel').focus(); // the safe choice is the default
  }

  async function loadMe() {
    state.meLoading = true;
    try {
      const me = await call('GET', '/v1/public/me');
      state.me = me;
      state.self = me.name;
      $('self').textContent = me.name;
      $('cluster').textContent = 'cluster ' + me.clusterName;
      $('version').textContent = me.version ? 'roster v' + me.version : '';
      render();
    } catch (e) {
      toast('Cannot describe this node: ' + e.message, 'error');
    } finally {
      state.meLoading = false;
    }
  }

  function start() {
    $('forget').hidden = !token();
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
    setInterval(() => {
      for (const el of document.querySelectorAll('.since[data-since]')) el.textContent = ago(el.dataset.since);
    }, 1000);
    $('empty').hidden = false;
    loadMe();
    stream();
  }

  start();
})();
