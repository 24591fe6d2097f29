// The web UI's shell: one page, a tab per view (#chat, #dashboard, #rank, #compare), each a
// Preact component written with htm (no build step; docs/web.md).
import { html, render, useEffect, useState } from './vendor/preact-htm.js';
import { KEY_STORAGE } from './api.js';
import { Chat } from './chat.js';
import { Dashboard } from './dashboard.js';
import { Rank } from './rank.js';
import { Compare } from './compare.js';

const PAGES = [
  ['chat', 'Chat', Chat],
  ['dashboard', 'Training', Dashboard],
  ['rank', 'Rank', Rank],
  ['compare', 'Compare', Compare],
];

function App() {
  const route = () => (location.hash.slice(1) || 'chat').split('?')[0];
  const [page, setPage] = useState(route());
  useEffect(() => {
    const f = () => setPage(route());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  const Page = (PAGES.find(([id]) => id === page) ?? PAGES[0])[2];
  return html`
    <header>
      <span class="brand">gptforge</span>
      <nav>${PAGES.map(([id, label]) => html`<a href=${'#' + id} class=${id === page ? 'active' : ''}>${label}</a>`)}</nav>
      <button class="link" title="API key for a server started with --api-key" onClick=${() => {
        const k = prompt('API key (empty: none)', localStorage.getItem(KEY_STORAGE) ?? '');
        if (k !== null) { if (k) localStorage.setItem(KEY_STORAGE, k); else localStorage.removeItem(KEY_STORAGE); location.reload(); }
      }}>API key</button>
    </header>
    <main><${Page} key=${page} /></main>`;
}

render(html`<${App} />`, document.getElementById('app'));
