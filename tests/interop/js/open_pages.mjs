// Opens each URL in turn in Debian's Chromium (through playwright-core), each in a fresh
// browser context (no cookies carried over), follows redirects, and prints one JSON line per
// URL: {"status", "url", "text"} of the page it landed on.
//
// Usage: node open_pages.mjs URL [URL …]
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const url of process.argv.slice(2)) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(url);
    const text = (await page.innerText('body')).trim().replace(/\s+/g, ' ');
    console.log(JSON.stringify({ status: response ? response.status() : 0, url: page.url(), text }));
    await context.close();
  }
} finally {
  await browser.close();
}
