// Drives Debian's Chromium (through playwright-core) through an identity provider's sign-in
// as a person would: it opens URL, types the login on the login page, accepts the consent
// page, and confirms a device code when shown one. With --deny it cancels at the login page.
// It stops when a page says the sign-in is done (tessera's loopback page, or the provider's
// device-flow success page) and prints that page's text.
//
// Usage: node browser_sign_in.mjs URL LOGIN [--deny]
import { chromium } from 'playwright-core';

const [url, login] = process.argv.slice(2);
const deny = process.argv.includes('--deny');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const done = /Signed in\. You can close|Sign-in did not complete|Sign-in Success|successfully|already finished/i;
try {
  const page = await browser.newPage();
  await page.goto(url);
  for (let step = 0; step < 12; step += 1) {
    await page.waitForLoadState('load');
    const text = await page.innerText('body').catch(() => '');
    if (done.test(text)) {
      console.log(text.trim().replace(/\s+/g, ' '));
      process.exit(0);
    }
    if (await page.locator('input[name="login"]').count()) {
      if (deny) {
        await page.click('text=Cancel');
        continue;
      }
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'any-password');
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
      continue;
    }
    const submit = page.locator('button[type="submit"], input[type="submit"]').first();
    if (await submit.count()) {
      await Promise.all([page.waitForNavigation().catch(() => {}), submit.click()]);
      continue;
    }
    await page.waitForTimeout(250);
  }
  console.error(`no sign-in result after 12 steps; last page: ${page.url()}`);
  process.exit(1);
} finally {
  await browser.close();
}
