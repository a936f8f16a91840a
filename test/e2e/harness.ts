/**
 * End-to-end harness: the real server (createRequestListener on 127.0.0.1:0 over a temp DATA_DIR/VAR_DIR) and
 * Debian's headless Chromium through playwright-core, with SwiftShader for WebGL. It records
 * console errors, page errors and every request to a host other than this server, so tests can
 * assert the page is clean and offline.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../server/config.ts';
import { closeAppServices, createRequestListener } from '../../server/http/app.ts';
import type { AppContext } from '../../server/http/context.ts';
import { Catalog } from '../../server/catalog/catalog.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (CI installs the Debian chromium package)`;

export const chromiumArgs = [
  '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking',
  '--disable-component-update', '--disable-dev-shm-usage',
];

export interface RunningServer {
  url: string;
  ctx: AppContext;
  dataDir: string;
  varDir: string;
  close(): Promise<void>;
}

/** Builds the same context `forestmap serve` builds, over the given folders. */
export async function buildContext(dataDir: string, varDir: string): Promise<AppContext> {
  const config = loadConfig({ DATA_DIR: dataDir, VAR_DIR: varDir, HOST: '127.0.0.1', PORT: '0' });
  const catalog = await Catalog.open({ dataDir: config.dataDir, varDir: config.varDir, maxUploadBytes: config.maxUploadBytes });
  return { config, catalog };
}


export async function startServer(prepare?: (dataDir: string) => Promise<void> | void): Promise<RunningServer> {
  const root = mkdtempSync(join(tmpdir(), 'forestmap-e2e-'));
  const dataDir = join(root, 'data');
  const varDir = join(root, 'var');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(varDir, { recursive: true });
  if (prepare) await prepare(dataDir);
  const ctx = await buildContext(dataDir, varDir);
  // the listener `forestmap serve` uses: ready tiles in front of Express, the rest by the app
  const server: Server = createServer(await createRequestListener(ctx));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ctx,
    dataDir,
    varDir,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeAppServices(ctx).catch((err) => console.error('[e2e] closing services:', err));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface PageWatch {
  page: Page;
  consoleErrors: string[];
  foreignRequests: string[];
}

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs, headless: true });
}

/** A page that records console errors, uncaught page errors and requests leaving this server. */
export async function openPage(browser: Browser, baseUrl: string, viewport = { width: 1280, height: 800 }): Promise<PageWatch & { context: BrowserContext }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  const origin = new URL(baseUrl).origin;
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  // the console only says "Failed to load resource"; keep the URL and status beside it
  context.on('response', (res) => {
    if (res.status() >= 400) consoleErrors.push(`HTTP ${res.status()} ${res.url()}`);
  });
  // context-level: includes requests made by web workers (maplibre fetches vector tiles there)
  context.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    if (new URL(url).origin !== origin) foreignRequests.push(url);
  });
  return { page, context, consoleErrors, foreignRequests };
}

/** Waits until the app has loaded its rasters and the map has drawn everything it requested. */
export async function waitForMapIdle(page: Page, timeoutMs = 60_000): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: timeoutMs });
  await page.waitForFunction(() => {
    const fm = (window as unknown as { forestmap?: { map: { loaded(): boolean; areTilesLoaded(): boolean; isMoving(): boolean } } }).forestmap;
    return !!fm && fm.map.loaded() && fm.map.areTilesLoaded() && !fm.map.isMoving();
  }, undefined, { timeout: timeoutMs, polling: 200 });
  // one more frame so the last tiles are composited into the canvas
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}
