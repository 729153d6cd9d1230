// The session socket: each job is {id, job, params} and answers ok, error or progress with its id.
// A lost connection is retried every second; each reconnect starts a new server session.

export class Session {
  /** `onReady(info)` is called with the server's session.ready data ({user, session, admin}) each time a
   * session starts; `onLost()` when the connection drops. */
  constructor({ onReady = () => {}, onLost = () => {} } = {}) {
    this.next = 1;
    this.pending = new Map();
    this.sessions = 0; // how many server sessions this page has had (a reconnect starts a new one)
    this.onReconnect = [];
    this.hooks = { onReady, onLost };
    this.waitReady();
    this.connect();
  }
  /** `ready` resolves once a server session is up; a lost connection swaps in a new, pending one at once,
   * and failed attempts keep it pending until one succeeds. */
  waitReady() {
    this.isReady = false;
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }
  connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    this.ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.event === 'session.ready') {
        this.hooks.onReady(msg.data);
        this.isReady = true;
        this.markReady();
        if (++this.sessions > 1) for (const f of this.onReconnect) f();
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.status === 'progress') { p.progress && p.progress(msg.done, msg.total); return; }
      this.pending.delete(msg.id);
      if (msg.status === 'ok') p.resolve(msg.result);
      else p.reject(Object.assign(new Error(msg.error.message), { kind: msg.error.kind }));
    };
    ws.onclose = () => {
      this.hooks.onLost();
      // A refused upgrade may mean the login ended: the server says so on /api/me (401 → login page).
      if (!this.isReady) fetch('/api/me').catch(() => {});
      for (const p of this.pending.values()) p.reject(new Error('connection lost'));
      this.pending.clear();
      if (this.isReady) this.waitReady();
      setTimeout(() => this.connect(), 1000);
    };
  }
  /** Run a job; the promise has `cancel()`, which asks the server to stop it and rejects at once (kind
   * `cancelled`): what the server answers after that is not waited for. */
  call(job, params, progress) {
    let id = null; let ws = null;
    const p = (async () => {
      await this.ready;
      id = this.next++;
      ws = this.ws;
      if (ws.readyState !== WebSocket.OPEN) throw new Error('connection lost');
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, progress });
        ws.send(JSON.stringify({ id, job, params }));
      });
    })();
    p.cancel = () => {
      if (id == null) return;
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ id, cancel: true }));
      const q = this.pending.get(id);
      if (!q) return;
      this.pending.delete(id);
      q.reject(Object.assign(new Error('cancelled'), { kind: 'cancelled' }));
    };
    return p;
  }
}
