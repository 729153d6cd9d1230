// The admin console: users, groups, grants, live login sessions and the tile cache through
// /api/admin/… (admins only). Every change takes effect on the server at once; the tables are reloaded
// after each.
const $ = (id) => document.getElementById(id);
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function say(text, error = false) {
  const m = $('message');
  m.textContent = text;
  m.className = error ? 'error' : '';
}

async function call(method, url, body) {
  const r = await fetch(url, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401) {
    location.assign(`/login?next=${encodeURIComponent('/admin')}`);
    throw new Error('not logged in');
  }
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new Error((j && j.error && j.error.message) || `${r.status}`);
  return j;
}

const when = (t) => new Date(t * 1000).toLocaleString();
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

/** A button in a table cell that runs a change. */
function action(td, label, f, title = '') {
  const b = document.createElement('button');
  b.textContent = label;
  b.title = title;
  b.onclick = () => change(f, `${label}: done`);
  td.append(b, ' ');
}

function row(tbody, cells, onDelete) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c;
    tr.append(td);
  }
  const td = document.createElement('td');
  if (onDelete) {
    const b = document.createElement('button');
    b.textContent = 'delete';
    b.onclick = () => change(onDelete);
    td.append(b);
  }
  tr.append(td);
  tbody.append(tr);
}

async function load() {
  const me = await call('GET', '/api/me');
  $('me').textContent = me.user ? `logged in as ${me.user}` : '';
  const a = await call('GET', '/api/admin/accounts');
  const users = $('users').tBodies[0];
  users.innerHTML = '';
  for (const u of a.users) {
    row(users, [u.name, u.admin ? 'yes' : '', u.groups.join(', ')],
      u.name === me.user ? null : () => call('DELETE', `/api/admin/users/${encodeURIComponent(u.name)}`));
  }
  const groups = $('groups').tBodies[0];
  groups.innerHTML = '';
  for (const g of a.groups) {
    row(groups, [g.name, g.members.join(', ')], () => call('DELETE', `/api/admin/groups/${encodeURIComponent(g.name)}`));
  }
  const grants = $('grants').tBodies[0];
  grants.innerHTML = '';
  for (const g of a.grants) {
    row(grants, [g.who, g.path, g.level], () => call('POST', '/api/admin/grants/revoke', { who: g.who, path: g.path }));
  }
  const { sessions } = await call('GET', '/api/admin/sessions');
  const sb = $('sessions').tBodies[0];
  sb.innerHTML = '';
  for (const s of sessions) {
    const tr = document.createElement('tr');
    tr.dataset.user = s.user;
    for (const c of [s.user, when(s.created), when(s.last_seen)]) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    const td = document.createElement('td');
    action(td, 'end', () => call('DELETE', `/api/admin/sessions?id=${s.id}`), 'log this session out');
    if (sessions.filter((o) => o.user === s.user).length > 1) {
      action(td, `end all of ${s.user}'s`, () => call('DELETE', `/api/admin/sessions?user=${encodeURIComponent(s.user)}`));
    }
    tr.append(td);
    sb.append(tr);
  }
  await loadCache();
}

async function loadCache() {
  const c = await call('GET', '/api/admin/cache');
  const tb = $('cache').tBodies[0];
  tb.innerHTML = '';
  for (const [k, v] of [
    ['folder', c.folder], ['tiles go to', c.tiles], ['size', `${mib(c.bytes)} of ${c.max_bytes ? mib(c.max_bytes) : 'no limit'}`],
    ['sources', `${c.sources} (${c.stale_sources} stale: ${mib(c.stale_bytes)})`],
    ['unpacked .gz copies', `${c.unpacked} (${mib(c.unpacked_bytes)})`],
    ['temp files of writers that are gone', `${c.orphan_temp_files} (${mib(c.orphan_temp_bytes)})`],
  ]) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<th></th><td></td>';
    tr.cells[0].textContent = k;
    tr.cells[1].textContent = v;
    tr.dataset.key = k;
    tb.append(tr);
  }
}

/** Run a change, report it, reload the tables. */
async function change(f, done = 'saved') {
  try {
    await f();
    say(done);
  } catch (e) {
    say(e.message, true);
  }
  await load().catch((e) => say(e.message, true));
}

function onSubmit(id, f) {
  $(id).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.target;
    change(() => f(form)).then(() => { if (!$('message').className) form.reset(); });
  });
}

onSubmit('add-user', (f) => call('POST', '/api/admin/users', { name: f.name.value, password: f.password.value, admin: f.admin.checked }));
onSubmit('add-group', (f) => call('POST', '/api/admin/groups', { name: f.name.value, members: list(f.members.value) }));
onSubmit('members', (f) => call('POST', `/api/admin/groups/${encodeURIComponent(f.group.value)}/members`,
  f.op.value === 'add' ? { add: list(f.users.value) } : { remove: list(f.users.value) }));
onSubmit('add-grant', (f) => call('POST', '/api/admin/grants', { who: f.who.value, path: f.path.value, level: f.level.value }));
$('prune').addEventListener('submit', (ev) => {
  ev.preventDefault();
  let r = null;
  change(async () => { r = await call('POST', '/api/admin/cache/prune'); }, 'pruned').then(() => {
    if (r) say(`pruned: ${r.stale_removed} stale and ${r.evicted} least recently used sources, ${r.temp_removed} temp files; ${mib(r.freed_bytes)} freed, ${mib(r.bytes)} left`);
  });
});

load().catch((e) => say(e.message, true));
