// Loads serve's status page in Debian's Chromium (through playwright-core) at 1280×800, saves a
// screenshot, and prints one JSON line: the HTTP status, the page's text, the text of its
// countdowns and warning cells, every URL the page requested, and the console's messages
// (a blocked resource would show there).
//
// Usage: node status_page.mjs URL SCREENSHOT.png
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const requests = [];
  const console_messages = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => console_messages.push(message.text()));
  const response = await page.goto(url);
  await page.screenshot({ path: screenshot, fullPage: true });
  const texts = async (selector) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent.trim()));
  console.log(JSON.stringify({
    status: response ? response.status() : 0,
    text: (await page.innerText('body')).trim().replace(/\s+/g, ' '),
    countdowns: await texts('.countdown'),
    warnings: await texts('.warn'),
    csp: response ? response.headers()['content-security-policy'] : '',
    requests,
    console: console_messages,
  }));
  await context.close();
} finally {
  await browser.close();
}
