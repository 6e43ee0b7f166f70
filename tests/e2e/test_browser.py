"""A person's path through the app in a real Chromium: the sample, then an upload of their own."""

import pytest

pytestmark = pytest.mark.e2e

UPLOAD = (
    "\ufeffCustomer ID,Event Time,Event Name,Order Total\n"
    "00017,2567-03-01 10:15,Product View,\n"
    "00017,2567-03-01 10:20,Purchase,\"1,250.00\"\n"
    "00018,2567-03-02 09:00,Product View,\n"
    ",2567-03-02 09:30,Product View,\n"
    "00019,31/02/2567,Product View,\n"
    "00020,2567-03-03 12:00,Product View,\n"
)


def assert_no_exception(page):
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


def metric_values(page):
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


def wait_for_metric(page, label, value, timeout=120_000):
    page.wait_for_function(
        """([label, value]) => {
            const labels = [...document.querySelectorAll('[data-testid="stMetricLabel"]')].map(e => e.innerText.trim());
            const values = [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText.trim());
            return labels.some((l, i) => l === label && values[i] === value);
        }""",
        arg=[label, value],
        timeout=timeout,
    )


def show(page, view: str) -> None:
    """Pick one of a page's views (the row of choices above it)."""
    page.locator('[data-testid="stRadio"]').get_by_text(view, exact=True).first.click()


def test_funnels_and_dropoff_pages_in_the_browser(server, browser, shot):
    page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
    # the first request of a fresh server is a link straight to a page: it must open inside the app
    page.goto(f"{server}/funnels")
    page.get_by_text("Stage map: which events reach which stage").wait_for(timeout=120_000)
    page.get_by_text("Data", exact=True).wait_for()  # the sidebar is there
    assert_no_exception(page)
    shot(page, "4-funnels-stages")

    show(page, "Step funnel")
    page.get_by_role("heading", name="Who dropped, who converted").wait_for(timeout=120_000)
    assert_no_exception(page)
    shot(page, "5-funnels-steps")

    page.get_by_role("link", name="Journey map").click()
    page.get_by_text("Users at a node").wait_for(timeout=120_000)
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=120_000)  # the Sankey drew
    assert_no_exception(page)
    shot(page, "6-journey-map")
    # click step 2's top node (x range [-0.02, 4.96] for 5 steps; y from 0 at the top, range [-0.01, 1.01])
    box = plot.bounding_box()
    x = box["x"] + 4 + (box["width"] - 8) * (1.08 + 0.02) / 4.98
    y = box["y"] + 4 + (box["height"] - 8) * (0.15 + 0.01) / 1.02
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text("1,828 users at step 2, category_view.").wait_for(timeout=60_000)
    shot(page, "6b-journey-map-node-clicked")
    show(page, "Canvas")
    page.get_by_text("Your notes").wait_for()
    # only the chosen view is drawn: the paths' elements go once the rerun ends
    page.get_by_text("Path cleaning rules").wait_for(state="detached", timeout=60_000)
    assert page.locator("table.journey-canvas").count() == 1
    shot(page, "7-journey-canvas")

    page.get_by_role("link", name="Retention & churn").click()
    wait_for_metric(page, "Repeat purchase rate", "22.4 %")
    assert_no_exception(page)
    shot(page, "9-retention")
    show(page, "Churn clusters")
    page.get_by_role("heading", name="Churn clusters").wait_for(timeout=120_000)
    page.get_by_text("Silhouette", exact=True).wait_for(timeout=120_000)
    # only the chosen view is drawn: the cohorts' elements go once the rerun ends
    page.get_by_role("heading", name="Buying again").wait_for(state="detached", timeout=120_000)
    assert_no_exception(page)
    shot(page, "9b-retention-clusters")
    show(page, "Churn risk")
    page.get_by_text("Holdout ROC AUC", exact=True).wait_for(timeout=120_000)
    page.get_by_role("heading", name="Churn clusters").wait_for(state="detached", timeout=120_000)
    assert_no_exception(page)
    shot(page, "9c-retention-risk")

    page.get_by_role("link", name="Customers").click()
    page.get_by_role("heading", name="RFM segments").wait_for(timeout=120_000)
    wait_for_metric(page, "NPS", "+32")
    assert_no_exception(page)
    shot(page, "10-customers")

    page.get_by_role("link", name="Drop-off").click()
    page.get_by_text("The biggest loss is at").wait_for(timeout=120_000)
    page.get_by_text("Week by week").wait_for(timeout=120_000)
    assert_no_exception(page)
    shot(page, "8-dropoff")
    show(page, "Carts, bounces and pages")
    page.get_by_text("Time on page").first.wait_for(timeout=120_000)
    assert_no_exception(page)
    wait_for_metric(page, "Cart abandonment", "50.9 %")
    shot(page, "8b-dropoff-pages")


def test_sample_then_upload_shows_the_uploads_real_counts(server, browser, shot, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server)
    wait_for_metric(page, "Users", "5,000")
    shot(page, "1-overview-sample")
    # every Altair chart has its "⋯" menu with PNG and SVG downloads
    page.locator('[data-testid="stVegaLiteChart"]').first.hover()
    page.locator(".vega-embed summary").first.click()
    menu = page.locator(".vega-embed .vega-actions a").all_inner_texts()
    assert "Save as PNG" in menu and "Save as SVG" in menu
    page.keyboard.press("Escape")

    page.get_by_text("Upload a file").click()
    path = tmp_path / "thai_shop.csv"
    path.write_text(UPLOAD, encoding="utf-8")
    page.locator('input[type="file"]').set_input_files(str(path))
    wait_for_metric(page, "Users", "3")
    m = metric_values(page)
    assert (m["Events"], m["Orders"], m["Revenue"], m["Visit → purchase"]) == ("4", "1", "1,250", "33.3 %")
    page.get_by_text("Loaded 4 of 6 rows from thai_shop.csv").wait_for()
    shot(page, "2-overview-upload")

    page.get_by_text("Data & mapping").click()
    page.get_by_role("heading", name="Column mapping").wait_for()
    wait_for_metric(page, "Rows rejected", "2")
    page.get_by_text("Download the 2 rejected rows (CSV)").wait_for()
    shot(page, "3-data-upload")

    # another visitor, in their own browser session, sees the sample and not this upload
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(server)
    wait_for_metric(other, "Users", "5,000")
    assert "thai_shop.csv" not in other.content()
    context.close()



def test_a_shared_link_reproduces_the_funnel(server, browser, shot):
    import journey

    from ..conftest import SAMPLE

    log = journey.load(SAMPLE).where(devices=["mobile"])
    df = journey.funnel(log, ["product_view", "add_to_cart", "purchase"], window="2d")
    dropped = int(df.set_index("step_no").loc[2, "dropped"])

    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()  # a colleague's browser
    page.goto(f"{server}/funnels?funnels_view=steps&steps=product_view|add_to_cart|purchase&window=2d"
              "&filter_device=mobile")
    page.get_by_text(f"{dropped:,} users dropped at step 2. add_to_cart.").wait_for(timeout=120_000)
    assert_no_exception(page)
    shot(page, "11-shared-link")
