// Token-based sync of every address book a user sees, with the tsdav
// CardDAV client, as a JavaScript application would run it.
//
// Usage: node sync.mjs BASE_URL USER PASSWORD STATE_FILE
//
// The address books are discovered from BASE_URL (/.well-known/carddav,
// the principal, the home set). Each book is synced with tsdav's
// smartCollectionSync over WebDAV sync-collection (RFC 6578): the first
// run sends an empty token, later runs send the token the state file
// keeps, and the cards the server reports as added or changed are fetched
// with one addressbook-multiget. The state file keeps, per book path, the
// token and the href and ETag of every card; hrefs are kept as paths, so a
// server restarted on another port continues the same state.
//
// It prints one JSON object on stdout:
//
//	{"books": [{"path", "displayName", "tokenSent", "created", "updated",
//	  "deleted", "counts": {"created", "updated", "deleted", "total"}}],
//	 "requests": [{"method", "path", "syncToken"?}]}
//
// tokenSent is the DAV:sync-token the client put in its sync-collection
// request, read from the request body on its way out; created, updated and
// deleted are sorted card paths. Any failure ends with exit status 1 and a
// message on stderr.

import { readFile, writeFile, rename } from 'node:fs/promises';
import { addressBookMultiGet, createDAVClient } from 'tsdav';

async function main(argv) {
  if (argv.length !== 4) {
    throw new Error('usage: node sync.mjs BASE_URL USER PASSWORD STATE_FILE');
  }
  const [baseURL, username, password, statePath] = argv;
  const state = await loadState(statePath);

  // Every request goes through this fetch, which records what the client
  // sends, above all the sync token of each sync-collection report.
  const requests = [];
  const recordingFetch = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const entry = { method: init.method ?? 'GET', path: url.pathname };
    if (typeof init.body === 'string' && /sync-collection/.test(init.body)) {
      const m = /<(?:[\w-]+:)?sync-token(?:\s*\/>|>([^<]*)<\/(?:[\w-]+:)?sync-token>)/.exec(init.body);
      entry.syncToken = m ? unescapeXML(m[1] ?? '') : null;
    }
    requests.push(entry);
    return fetch(input, init);
  };

  const client = await createDAVClient({
    serverUrl: baseURL,
    credentials: { username, password },
    authMethod: 'Basic',
    defaultAccountType: 'carddav',
    fetch: recordingFetch,
  });
  const books = await client.fetchAddressBooks();

  const out = [];
  const next = { books: {} };
  for (const book of books) {
    const bookURL = new URL(book.url);
    const path = bookURL.pathname;
    const known = state.books[path] ?? { syncToken: '', objects: [] };
    const before = requests.length;
    const result = await client.smartCollectionSyncDetailed({
      collection: {
        ...book,
        // The token from the state file, not the one PROPFIND just
        // returned: the server must say what changed since the last run.
        syncToken: known.syncToken,
        objects: known.objects.map((o) => ({ url: new URL(o.path, bookURL).href, etag: o.etag })),
        objectMultiGet: addressBookMultiGet,
      },
      method: 'webdav',
    });
    const sent = requests.slice(before).find((r) => 'syncToken' in r);
    if (!sent) {
      throw new Error(`${path}: tsdav sent no sync-collection report`);
    }
    if (!result.syncToken) {
      throw new Error(`${path}: the server returned no sync token`);
    }
    const { created, updated, deleted } = result.objects;
    const paths = (list) => list.map((o) => new URL(o.url).pathname).sort();

    // The new local state: what we had, less the deleted, plus the
    // created and updated with their new ETags.
    const objects = new Map(known.objects.map((o) => [o.path, o.etag]));
    for (const p of paths(deleted)) {
      objects.delete(p);
    }
    for (const o of [...created, ...updated]) {
      if (!o.data || !/BEGIN:VCARD/.test(o.data)) {
        throw new Error(`${path}: ${new URL(o.url).pathname} came without a vCard`);
      }
      objects.set(new URL(o.url).pathname, o.etag ?? '');
    }
    next.books[path] = {
      syncToken: result.syncToken,
      objects: [...objects].sort().map(([p, etag]) => ({ path: p, etag })),
    };
    out.push({
      path,
      displayName: book.displayName,
      tokenSent: sent.syncToken,
      created: paths(created),
      updated: paths(updated),
      deleted: paths(deleted),
      counts: {
        created: created.length,
        updated: updated.length,
        deleted: deleted.length,
        total: objects.size,
      },
    });
  }

  await saveState(statePath, next);
  process.stdout.write(JSON.stringify({ books: out, requests }, null, 2) + '\n');
}

async function loadState(path) {
  let text;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') {
      return { books: {} };
    }
    throw err;
  }
  const state = JSON.parse(text);
  if (typeof state !== 'object' || state === null || typeof state.books !== 'object') {
    throw new Error(`${path}: not a state file`);
  }
  return state;
}

async function saveState(path, state) {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

function unescapeXML(s) {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`sync.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
