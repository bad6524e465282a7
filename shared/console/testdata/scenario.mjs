// The console's browser scenario (issue 12), driven by Playwright against
// a real `modelreg serve`. Run by cmd/modelreg's TestConsoleInBrowser with
// MODELREG_PLAYWRIGHT (playwright-core's node_modules), MODELREG_CHROMIUM,
// CONSOLE_URL, the users' tokens and SCREENSHOTS (a directory).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.MODELREG_PLAYWRIGHT, "x.js"));
const { chromium } = require("playwright-core");
const base = process.env.CONSOLE_URL;
const shots = process.env.SCREENSHOTS;

function check(ok, what) {
  if (!ok) throw new Error("FAILED: " + what);
  console.log("ok: " + what);
}

async function signIn(browser, token, width) {
  const ctx = await browser.newContext({ viewport: { width: width || 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  await page.goto(base + "/models/fraud");
  check(page.url().includes("/login?next="), "a page without a session sends to sign-in");
  await page.getByLabel("API token").fill(token);
  await page.keyboard.press("Enter"); // keyboard-usable: submit with Enter
  await page.waitForURL("**/models/fraud");
  return { ctx, page };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.MODELREG_CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  // Publisher: two versions, compare with the chart, request Production.
  const pub = await signIn(browser, process.env.PUBLISHER_TOKEN);
  let p = pub.page;
  check((await p.locator("table.versions tbody tr").count()) === 2, "the publisher sees two versions");
  await shot(p, "01-model-publisher");
  await p.getByLabel("compare version 1").check();
  await p.getByLabel("compare version 2").check();
  await p.getByRole("button", { name: "Compare selected" }).click();
  await p.waitForURL("**/compare?**");
  check(await p.locator("svg.chart rect.bar").count() === 2, "the compare page draws a bar per version");
  check((await p.locator("td.best").count()) >= 1, "the best value is marked");
  await shot(p, "02-compare");
  await p.goto(base + "/models/fraud/versions/2");
  await p.getByLabel("Move to stage").selectOption("Production");
  await p.getByLabel("Reason").fill("v2 beats v1 on accuracy");
  await p.getByRole("button", { name: "Request move" }).click();
  await p.waitForURL("**/approvals/**");
  const approvalURL = p.url();
  check(await p.locator("#approve").count() === 0, "the requester is not offered the approve button");
  check((await p.locator("#why").textContent()).includes("You made this request"), "the requester is told why");
  await shot(p, "03-approval-requester");

  // Approver, in a second context: approve with a comment.
  const appr = await signIn(browser, process.env.APPROVER_TOKEN);
  const a = appr.page;
  await a.goto(base + "/approvals");
  check((await a.locator(".queue > li").count()) === 1, "the approver sees one pending request");
  await shot(a, "04-queue-approver");
  await a.goto(approvalURL);
  await a.getByLabel("Comment").fill("metrics look right");
  await a.getByRole("button", { name: "Approve" }).click();
  await a.waitForURL(approvalURL);
  // The local engine promotes shortly after the decision.
  for (let i = 0; i < 100; i++) {
    await a.goto(base + "/models/fraud");
    if ((await a.locator("#production .big").textContent().catch(() => "")).trim() === "v2") break;
    await a.waitForTimeout(100);
  }
  check((await a.locator("#production .big").textContent()).trim() === "v2", "the model page shows v2 in Production");
  check((await a.locator(".timeline").textContent()).includes("metrics look right"), "the history shows the approval's comment");
  await shot(a, "05-model-after-approval");

  // Roll back (v1 first goes to Production, then back to v2).
  await p.goto(base + "/models/fraud/versions/1");
  await p.getByLabel("Move to stage").selectOption("Production");
  await p.getByLabel("Reason").fill("try v1");
  await p.getByRole("button", { name: "Request move" }).click();
  await p.waitForURL("**/approvals/**");
  await a.goto(p.url());
  await a.getByLabel("Comment").fill("ok");
  await a.getByRole("button", { name: "Approve" }).click();
  for (let i = 0; i < 100; i++) {
    await a.goto(base + "/models/fraud");
    if ((await a.locator("#production .big").textContent().catch(() => "")).trim() === "v1") break;
    await a.waitForTimeout(100);
  }
  check((await a.locator("#production .big").textContent()).trim() === "v1", "v1 reached Production");
  await a.getByLabel("Reason (required)").fill("v1 regressed in production");
  await a.getByRole("button", { name: "Roll back" }).click();
  await a.waitForURL("**/models/fraud");
  check((await a.locator("#production .big").textContent()).trim() === "v2", "rollback returned v2 to Production");
  check((await a.locator(".timeline").textContent()).includes("v1 regressed in production"), "the history shows the rollback reason");
  await shot(a, "06-after-rollback");

  // Reader at 360 px: no approve buttons, no forms, readable.
  const rd = await signIn(browser, process.env.READER_TOKEN, 360);
  const r = rd.page;
  check(await r.locator("#rollback").count() === 0, "a reader is not offered rollback");
  const wide = await r.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 360, "the model page fits 360 px (scrollWidth " + wide + ")");
  await shot(r, "07-model-reader-360");
  await r.goto(approvalURL);
  check(await r.locator("#approve, #reject").count() === 0, "a reader sees no approve buttons");

  // A forged form post (another site, no CSRF token) is refused.
  const forged = await r.evaluate(async (u) => {
    const res = await fetch(u + "/models/fraud/rollback", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "reason=forged",
    });
    return res.status;
  }, base);
  check(forged === 403, "a forged form post is refused (" + forged + ")");
  const attacker = await rd.ctx.newPage();
  await attacker.setContent(`<form id=f method=post action="${base}/approvals/x/decide"><input name=decision value=approve></form>`);
  await Promise.all([
    attacker.waitForURL(base + "/approvals/x/decide"),
    attacker.evaluate(() => document.getElementById("f").submit()),
  ]);
  await attacker.waitForLoadState("domcontentloaded");
  const txt = await attacker.locator("h1").textContent();
  check(/40[13] (Unauthorized|Forbidden)/.test(txt), "a cross-site form is refused (SameSite=Strict: no session)");
  await shot(attacker, "08-forged-post");

  // Reading works with JavaScript off.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  await nojs.addCookies(await rd.ctx.cookies());
  const n = await nojs.newPage();
  await n.goto(base + "/models/fraud/compare?v=1&v=2");
  check(await n.locator("svg.chart").count() === 1, "compare renders with JavaScript off");
  await shot(n, "09-compare-nojs");
  console.log("scenario passed");
} finally {
  await browser.close();
}
