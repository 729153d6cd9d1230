// The admin console: users, groups and grants through /api/admin/… (admins only). Every change takes
// effect on the server at once; the tables are reloaded after each.
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

load().catch((e) => say(e.message, true));
