// Chromium for tests (and benches): Debian's /usr/bin/chromium driven by playwright-core (never a
// downloaded browser), in a persistent context so OPFS survives closing and relaunching, plus the
// static server over build/ that serves the browser build cross-origin isolated.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startStaticServer, type StaticServer } from '../../host/web/server.js';
import { IMPORT_MAP, vendorFiles } from '../../host/web/vendor.js';

export const CHROMIUM_PATH = process.env.WSTOR_CHROMIUM ?? '/usr/bin/chromium';
/** build/, as the static server serves it. */
export const BUILD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function chromiumMissing(): boolean {
  return !fs.existsSync(CHROMIUM_PATH);
}

/** build/ served at a loopback port; `page` is what / answers (a page that loads `module`, if given). */
export function serveBuild(opts: { module?: string; page?: string } = {}): Promise<StaticServer> {
  // The data: icon keeps Chromium from asking for /favicon.ico (a 404 on the console).
  const page = opts.page ?? `<!doctype html><meta charset=utf-8><link rel=icon href="data:,"><title>wstor test</title>${IMPORT_MAP}` +
    (opts.module ? `<script type=module>import * as m from '${opts.module}'; globalThis.wstorTest = m; document.title = 'ready';</script>` : '');
  return startStaticServer({ root: BUILD_DIR, files: { ...vendorFiles(), '/': { contentType: 'text/html; charset=utf-8', body: page } } });
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Uncaught page and worker errors, and console errors, as they came. */
  errors: string[];
  close(): Promise<void>;
}

/** A fresh user-data directory (its OPFS with it); removed by the caller with removeUserDir. */
export function newUserDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-chromium-'));
}

export function removeUserDir(dir: string): void {
  // Chromium's helper processes may still be writing their cache for a moment after close().
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
}

/** Chromium over `userDataDir` at `url`, waiting until the page's title is "ready" when it loads a module. */
export async function openBrowser(userDataDir: string, url: string, opts: { waitReady?: boolean } = {}): Promise<BrowserSession> {
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true });
  const errors: string[] = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`); });
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); }));
    await page.goto(url);
    if (opts.waitReady !== false) await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30_000 });
    return { context, page, errors, close: () => context.close() };
  } catch (err) {
    await context.close();
    throw err;
  }
}

/** Run `fn` with a fresh user-data directory, removed afterwards. */
export async function withUserDir<T>(fn: (userDir: string) => Promise<T>): Promise<T> {
  const userDir = newUserDir();
  try {
    return await fn(userDir);
  } finally {
    removeUserDir(userDir);
  }
}

/**
 * Chromium over `userDir` at `url` for the length of `fn`, closed whatever happened; `fn` succeeding
 * with page or worker errors logged fails too.
 */
export async function inBrowser<T>(userDir: string, url: string, fn: (s: BrowserSession) => Promise<T>, opts: { waitReady?: boolean } = {}): Promise<T> {
  const session = await openBrowser(userDir, url, opts);
  try {
    const result = await fn(session);
    if (session.errors.length > 0) throw new Error(`the page logged errors:\n${session.errors.join('\n')}`);
    return result;
  } finally {
    await session.close();
  }
}
