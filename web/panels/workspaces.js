// Workspaces (with accounts): the view saved by name (its link and every region), shared with users and
// groups; `/view?workspace=ID` opens one (its images still need read permission).
import { $, showError, flash } from '../ui.js';

export function mountWorkspaces({ actions, hook }) {
  async function list() {
    const r = await fetch('/api/workspaces');
    if (!r.ok) return;
    $('ws-box').hidden = false;
    const ul = $('ws-list');
    ul.innerHTML = '';
    for (const w of (await r.json()).workspaces) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `/view?workspace=${w.id}`;
      a.textContent = w.name;
      a.dataset.workspace = w.id;
      const who = document.createElement('span');
      who.className = 'owner';
      who.textContent = w.access === 'owner' ? ' (mine)' : ` (${w.owner}, ${w.access})`;
      li.append(a, who);
      ul.append(li);
    }
  }
  $('ws-save').onclick = async () => {
    const name = $('ws-name').value.trim();
    if (!name) { showError('name the workspace first'); return; }
    const share = $('ws-share').value.trim();
    const state = { link: location.search.replace(/^\?/, ''), regions: actions.regionsText() };
    const body = { name, state, shares: share ? [{ who: share, level: $('ws-level').value }] : [] };
    const r = await fetch('/api/workspaces', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) { showError(`workspace: ${j.error.message}`); return; }
    hook.lastWorkspace = j;
    flash(`saved workspace “${j.name}”`);
    await list();
  };
  /** The query a link names: a workspace's saved link (with its regions), or the link itself. */
  async function query(q) {
    const id = q.get('workspace');
    if (!id) return q;
    const r = await fetch(`/api/workspaces/${encodeURIComponent(id)}`);
    const j = await r.json();
    if (!r.ok) { showError(`workspace ${id}: ${j.error.message}`); return new URLSearchParams(); }
    const out = new URLSearchParams(j.state.link || '');
    if (j.state.regions) out.set('regions', j.state.regions);
    document.title = `${j.name} — toyz`;
    return out;
  }
  return { list, query };
}
