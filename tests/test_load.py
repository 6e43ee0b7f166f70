"""Loading: formats, encodings, timestamp forms, mapping, and the accounting of every row."""

import datetime as dt
import gzip
import json

import pandas as pd
import pytest

import journey
from journey.errors import LoadError, MappingError

# Five data rows, hand-checked: 3 users (one with leading zeros), 2 purchases worth 30.50 in total.
BASIC = (
    "user_id,timestamp,event,revenue\n"
    "00017,2024-03-01 10:00:00,page_view,\n"
    "00017,2024-03-01 10:05:00,purchase,10.50\n"
    "B,2024-03-01 11:00:00,page_view,\n"
    "B,2024-03-02 09:00:00,purchase,20\n"
    "C,2024-03-03 08:00:00,page_view,\n"
)


def assert_accounts(log):
    r = log.report
    assert r.rows_read == r.rows_loaded + r.rows_rejected
    assert r.rows_loaded == len(log.to_pandas())
    assert r.rows_rejected == len(log.rejects())
    assert sum(r.reject_reasons.values()) == r.rows_rejected


def check_basic(log):
    r = log.report
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (5, 5, 0)
    assert (r.users, r.events, r.orders) == (3, 5, 2)
    assert r.revenue == pytest.approx(30.5)
    assert r.first_ts == "2024-03-01T10:00:00"
    assert r.last_ts == "2024-03-03T08:00:00"
    assert "00017" in set(log.to_pandas()["user_id"])
    assert_accounts(log)


class TestFormats:
    def test_csv(self, write):
        check_basic(journey.load(write("e.csv", BASIC)))

    def test_tsv(self, write):
        check_basic(journey.load(write("e.tsv", BASIC.replace(",", "\t"))))

    def test_semicolon(self, write):
        check_basic(journey.load(write("e.csv", BASIC.replace(",", ";"))))

    def test_csv_gz(self, write):
        check_basic(journey.load(write("e.csv.gz", gzip.compress(BASIC.encode()))))

    def test_parquet(self, tmp_path):
        df = pd.read_csv(pd.io.common.StringIO(BASIC), dtype=str)
        path = tmp_path / "e.parquet"
        df.to_parquet(path)
        check_basic(journey.load(str(path)))

    def test_parquet_native_timestamps(self, tmp_path):
        df = pd.read_csv(pd.io.common.StringIO(BASIC), dtype={"user_id": str})
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        path = tmp_path / "e.parquet"
        df.to_parquet(path)
        check_basic(journey.load(str(path)))

    def test_json_lines(self, write):
        df = pd.read_csv(pd.io.common.StringIO(BASIC), dtype=str)
        lines = "\n".join(json.dumps({k: v for k, v in r.items() if pd.notna(v)}) for r in df.to_dict("records"))
        check_basic(journey.load(write("e.jsonl", lines + "\n")))

    def test_json_lines_with_a_broken_line(self, write):
        text = '{"user_id": "a", "timestamp": "2024-03-01", "event": "x"}\n{"user_id": "b", "times\n' \
               '{"user_id": "c", "timestamp": "2024-03-02", "event": "y"}\n'
        log = journey.load(write("e.jsonl", text))
        assert (log.report.rows_read, log.report.rows_loaded) == (3, 2)
        assert log.report.reject_reasons == {"invalid JSON": 1}
        assert log.rejects()["row_no"].tolist() == [2]

    def test_xlsx(self, tmp_path):
        df = pd.read_csv(pd.io.common.StringIO(BASIC), dtype={"user_id": str})
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        path = tmp_path / "e.xlsx"
        df.to_excel(path, index=False)
        check_basic(journey.load(str(path)))

    def test_dataframe(self):
        df = pd.read_csv(pd.io.common.StringIO(BASIC), dtype={"user_id": str})
        check_basic(journey.load(df))

    def test_extension_does_not_decide_when_contents_disagree(self, write):
        with pytest.raises(LoadError, match="not parquet"):
            journey.load(write("e.parquet", BASIC))


class TestEncodings:
    THAI = "user_id,timestamp,event\n1,2567-03-01 10:15,ดูสินค้า\n2,2567-03-01 10:20,สั่งซื้อ\n"

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp874"])
    def test_thai_event_names_survive(self, write, encoding):
        log = journey.load(write("thai.csv", self.THAI, encoding=encoding))
        assert sorted(log.to_pandas()["event"]) == sorted(["ดูสินค้า", "สั่งซื้อ"])
        assert log.report.first_ts == "2024-03-01T10:15:00"

    def test_latin1(self, write):
        text = "user_id,timestamp,event\nJosé,2024-03-01,café visité\nRenée,2024-03-02,achète\n"
        log = journey.load(write("fr.csv", text, encoding="latin-1"))
        assert sorted(log.to_pandas()["user_id"]) == ["José", "Renée"]
        assert log.report.encoding in ("cp1252", "latin-1")


class TestTimestamps:
    @pytest.mark.parametrize(
        "text, expected",
        [
            ("2024-03-01 10:15:00", dt.datetime(2024, 3, 1, 10, 15)),
            ("2024-03-01T10:15:00Z", dt.datetime(2024, 3, 1, 10, 15)),
            ("2024-03-01T17:15:00+07:00", dt.datetime(2024, 3, 1, 10, 15)),
            ("2024-03-01T05:15:00-0500", dt.datetime(2024, 3, 1, 10, 15)),
            ("2024-03-01 10:15:00.250", dt.datetime(2024, 3, 1, 10, 15, 0, 250000)),
            ("2567-03-01 10:15", dt.datetime(2024, 3, 1, 10, 15)),
            ("2024/3/1 10:15", dt.datetime(2024, 3, 1, 10, 15)),
            ("1 Mar 2024 10:15", dt.datetime(2024, 3, 1, 10, 15)),
            ("Mar 1, 2024", dt.datetime(2024, 3, 1)),
        ],
    )
    def test_text_forms(self, write, text, expected):
        log = journey.load(write("t.csv", f'user_id,timestamp,event\na,"{text}",x\n'))
        assert log.to_pandas()["ts"][0].to_pydatetime() == expected

    @pytest.mark.parametrize(
        "value, expected",
        [
            ("1709287200", dt.datetime(2024, 3, 1, 10, 0)),
            ("1709287200123", dt.datetime(2024, 3, 1, 10, 0, 0, 123000)),
            ("1709287200123456", dt.datetime(2024, 3, 1, 10, 0, 0, 123456)),
            ("1709287200.5", dt.datetime(2024, 3, 1, 10, 0, 0, 500000)),
        ],
    )
    def test_epoch_units(self, write, value, expected):
        log = journey.load(write("t.csv", f"user_id,timestamp,event\na,{value},x\n"))
        assert log.to_pandas()["ts"][0].to_pydatetime() == expected

    def test_compact_dates(self, write):
        log = journey.load(write("t.csv", "user_id,date,event\na,20240301,x\na,25670302,y\n"))
        assert [t.to_pydatetime() for t in log.to_pandas()["ts"]] == [dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2)]
        assert log.report.time_format == "compact YYYYMMDD"

    def test_day_first_decided_from_the_data(self, write):
        log = journey.load(write("t.csv", "user_id,date,event\na,01/03/2024,x\na,25/03/2024,y\n"))
        assert log.to_pandas()["ts"][0].to_pydatetime() == dt.datetime(2024, 3, 1)
        assert not log.report.date_order_ambiguous

    def test_month_first_decided_from_the_data(self, write):
        log = journey.load(write("t.csv", "user_id,date,event\na,01/03/2024 1:05 PM,x\na,03/25/2024,y\n"))
        assert log.to_pandas()["ts"][0].to_pydatetime() == dt.datetime(2024, 1, 3, 13, 5)

    def test_ambiguous_dates_are_flagged_and_can_be_overridden(self, write):
        path = write("t.csv", "user_id,date,event\na,01/03/2024,x\n")
        log = journey.load(path)
        assert log.report.date_order_ambiguous
        assert any("day-first" in w for w in log.report.warnings)
        assert log.to_pandas()["ts"][0].to_pydatetime() == dt.datetime(2024, 3, 1)
        log = journey.load(path, date_order="mdy")
        assert log.to_pandas()["ts"][0].to_pydatetime() == dt.datetime(2024, 1, 3)

    def test_ga4_microsecond_timestamps(self, write):
        text = "event_date,event_timestamp,event_name,user_pseudo_id\n20240301,1709287200000000,page_view,123.456\n"
        log = journey.load(write("ga4.csv", text))
        assert log.report.mapping["time"] == "event_timestamp"
        assert log.report.mapping["user"] == "user_pseudo_id"
        assert log.to_pandas()["ts"][0].to_pydatetime() == dt.datetime(2024, 3, 1, 10, 0)


class TestMapping:
    @pytest.mark.parametrize(
        "header, expected",
        [
            ("Customer ID,Event Time,Event Name", ("Customer ID", "Event Time", "Event Name")),
            ("userId,timestamp,event", ("userId", "timestamp", "event")),
            ("user_id,event_time,event_type", ("user_id", "event_time", "event_type")),
            ("visitorid,timestamp,event", ("visitorid", "timestamp", "event")),
            ("domain_userid,collector_tstamp,event_name", ("domain_userid", "collector_tstamp", "event_name")),
        ],
    )
    def test_detects_common_exports(self, header, expected):
        m = journey.detect_mapping(header.split(","))
        assert (m.user, m.time, m.event) == expected

    def test_retail_invoice_export(self):
        m = journey.detect_mapping(
            ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
        )
        assert (m.user, m.time, m.event, m.order, m.product, m.revenue, m.quantity) == (
            "CustomerID", "InvoiceDate", None, "InvoiceNo", "StockCode", "UnitPrice", "Quantity"
        )

    @pytest.mark.parametrize(
        "header, expected",
        [
            # Shopify orders export
            ("Name,Email,Financial Status,Paid at,Created at,Total,Lineitem name",
             ("Email", "Created at", None, "Total")),
            # WooCommerce orders export
            ("Order Number,Order Date,Order Status,Billing Email,Order Total,Customer Note",
             ("Billing Email", "Order Date", None, "Order Total")),
            # eCommerce behaviour data (REES46)
            ("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session",
             ("user_id", "event_time", "event_type", "price")),
        ],
    )
    def test_detects_order_and_retail_exports(self, header, expected):
        m = journey.detect_mapping(header.split(","))
        assert (m.user, m.time, m.event, m.revenue) == expected

    def test_unit_price_times_quantity_is_revenue(self, write):
        text = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n1,A,3,2024-03-01,2.50,17\n"
        log = journey.load(write("retail.csv", text))
        assert log.report.revenue == pytest.approx(7.5)

    def test_revenue_that_is_not_a_number_is_counted_in_a_warning(self, write):
        """Text revenue: "12.50" and "$3" read (the symbol dropped), "n/a" not, an empty one is no revenue;
        a unit price read as a number times a quantity that is not ("x") is not read either. Numbers in
        both columns: nothing to warn of."""
        text = "user_id,timestamp,event,revenue\na,2024-03-01,purchase,12.50\nb,2024-03-01,purchase,n/a\n" \
               "c,2024-03-01,purchase,\nd,2024-03-01,purchase,$3\n"
        log = journey.load(write("r.csv", text))
        assert "1 revenue values could not be read as numbers and count as no revenue." in log.report.warnings
        assert log.report.revenue == pytest.approx(15.5)
        text = "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n1,3,2024-03-01,2.50,17\n2,x,2024-03-01,1.00,18\n"
        log = journey.load(write("q.csv", text))
        assert "1 revenue values could not be read as numbers and count as no revenue." in log.report.warnings
        text = "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n1,3,2024-03-01,2.50,17\n2,2,2024-03-01,1.00,18\n"
        log = journey.load(write("n.csv", text))
        assert log.report.revenue == pytest.approx(9.5)
        assert not [w for w in log.report.warnings if "revenue" in w]

    def test_override_sticks(self, write):
        text = "who,when,what,other\na,2024-03-01,x,b\n"
        log = journey.load(write("m.csv", text), {"user": "other", "time": "when", "event": "what"})
        assert log.to_pandas()["user_id"].tolist() == ["b"]
        assert log.report.mapping["user"] == "other"
        assert "who" in log.to_pandas().columns  # unmapped columns are kept under their own names

    def test_unknown_column_in_override_suggests(self, write):
        with pytest.raises(MappingError, match="Did you mean 'when'"):
            journey.load(write("m.csv", "who,when,what\na,2024-03-01,x\n"), {"user": "who", "time": "wen"})

    def test_missing_required_columns_says_what_to_do(self, write):
        with pytest.raises(MappingError, match="no user column"):
            journey.load(write("m.csv", "foo,timestamp,event\na,2024-03-01,x\n"))


class TestNothingLost:
    def test_messy_export(self, write):
        """BOM, Title Case headers, Buddhist-era dates, no customer, unreadable dates, quoted commas."""
        text = (
            "\ufeffCustomer ID,Event Time,Event Name,Order Total,Note\n"
            "00017,2567-03-01 10:15,Product View,,\"hello, world\"\n"   # 1 ok
            "00017,2567-03-01 10:20,Purchase,\"1,250.00\",\n"           # 2 ok, revenue 1250
            ",2567-03-01 11:00,Product View,,\n"                         # 3 missing user
            "00018,not a date,Product View,,\n"                          # 4 unreadable time
            "00018,2567-03-02 09:00,,,\n"                                # 5 missing event
            "00019,2567-03-02 09:30,Product View,,\"a, b, c\"\n"        # 6 ok
            "00019,,Product View,,\n"                                    # 7 missing time
        )
        log = journey.load(write("messy.csv", text))
        r = log.report
        assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (7, 3, 4)
        assert r.reject_reasons == {"missing user": 1, "unreadable time": 1, "missing event": 1, "missing time": 1}
        assert log.rejects()["row_no"].tolist() == [3, 4, 5, 7]
        assert log.rejects().set_index("row_no").loc[4, "detail"] == "not a date"
        assert r.revenue == pytest.approx(1250.0)
        events = log.to_pandas()
        assert events["row_no"].tolist() == [1, 2, 6]
        assert events["Note"].tolist() == ["hello, world", None, "a, b, c"]
        assert r.first_ts == "2024-03-01T10:15:00"
        assert_accounts(log)

    def test_orders_export_with_compact_dates(self, write):
        text = "Customer,Order Date,Amount,Order Number\nc1,20240301,10.00,1001\nc2,20240302,5.50,1002\nc1,20240315,7,1003\n"
        log = journey.load(write("orders.csv", text))
        events = log.to_pandas()
        assert events["event"].tolist() == ["purchase"] * 3
        assert (log.report.rows_loaded, log.report.orders, log.report.users) == (3, 3, 2)
        assert log.report.revenue == pytest.approx(22.5)
        assert any("purchase" in w for w in log.report.warnings)

    def test_wrong_field_counts_are_rejected_with_their_row(self, write):
        text = "user_id,timestamp,event\na,2024-03-01,x\nb,2024-03-01,x,extra\nc,2024-03-01\nd,2024-03-02,y\n"
        log = journey.load(write("r.csv", text))
        assert log.report.reject_reasons == {"wrong number of fields": 2}
        assert log.rejects()["row_no"].tolist() == [2, 3]
        assert log.to_pandas().sort_values("row_no")["row_no"].tolist() == [1, 4]
        assert_accounts(log)

    def test_broken_quote_does_not_swallow_later_rows(self, write):
        text = 'user_id,timestamp,event\na,2024-03-01,x\nb,2024-03-01,"broken\nc,2024-03-02,y\nd,2024-03-03,z\n'
        log = journey.load(write("q.csv", text))
        assert (log.report.rows_read, log.report.rows_loaded) == (4, 3)
        assert log.report.reject_reasons == {"broken quoting": 1}
        assert log.rejects()["row_no"].tolist() == [2]
        assert sorted(log.to_pandas()["user_id"]) == ["a", "c", "d"]

    def test_duplicates_are_reported_not_removed(self, write):
        text = "user_id,timestamp,event\na,2024-03-01,x\na,2024-03-01,x\na,2024-03-01,x\nb,2024-03-01,x\n"
        log = journey.load(write("d.csv", text))
        assert log.report.rows_loaded == 4
        assert log.report.duplicate_rows == 2
        assert any("exact copies" in w for w in log.report.warnings)

    def test_duplicates_of_a_parquet_file_with_missing_values(self, tmp_path):
        # hand-counted: rows 2 and 4 repeat rows 1 and 3; rows 5 and 6 differ only in the time;
        # the two rows without a user are copies of each other (rejected, but still copies in the file)
        df = pd.DataFrame({
            "user_id": ["a", "a", "b", "b", "b", "b", None, None],
            "timestamp": ["2024-03-01 10:00:00"] * 4 + ["2024-03-01 11:00:00", "2024-03-01 11:00:01",
                                                         "2024-03-02 10:00:00", "2024-03-02 10:00:00"],
            "event": ["x", "x", "y", "y", "x", "x", "x", "x"],
            "revenue": [None, None, 5.0, 5.0, None, None, None, None],
        })
        df.to_parquet(tmp_path / "d.parquet")
        log = journey.load(str(tmp_path / "d.parquet"))
        assert (log.report.rows_loaded, log.report.rows_rejected, log.report.duplicate_rows) == (6, 2, 3)

    def test_sessions_split_after_30_minutes(self, write):
        text = (
            "user_id,timestamp,event\n"
            "a,2024-03-01 10:00,x\na,2024-03-01 10:29,x\na,2024-03-01 10:59,x\n"  # one session (gaps 29, 30)
            "a,2024-03-01 11:30,x\n"                                            # 31 minutes: a new one
            "b,2024-03-01 10:00,x\n"
        )
        log = journey.load(write("s.csv", text))
        assert log.report.sessions == 3
        ids = log.to_pandas()["session_id"].tolist()
        assert ids == ["a#1", "a#1", "a#1", "a#2", "b#1"]

    def test_source_sessions_are_used(self, write):
        text = "user_id,timestamp,event,session_id\na,2024-03-01 10:00,x,s1\na,2024-03-02 10:00,x,s1\n"
        assert journey.load(write("s.csv", text)).report.sessions == 1


class TestBadFiles:
    @pytest.mark.parametrize(
        "content, message",
        [
            (b"", "empty"),
            (b"   \n\n", "no data"),
            (b"\x00\x01\x02\x03binary\x00\xff" * 50, "binary"),
            (b"just_one_column\na\nb\n", "Only one column"),
            (b"user_id,timestamp,event\n", "no data rows"),
        ],
    )
    def test_message_not_traceback(self, write, content, message):
        with pytest.raises(LoadError, match=message):
            journey.load(write("bad.csv", content))

    def test_missing_file(self):
        with pytest.raises(LoadError, match="No such file"):
            journey.load("/nonexistent/file.csv")

    def test_damaged_excel(self, write):
        with pytest.raises(LoadError, match="Excel"):
            journey.load(write("bad.xlsx", b"PK\x03\x04 not really a zip"))


def test_distinct_values_are_counted_once_per_loaded_log(write):
    """Widgets ask for them on every rerun: a filtered view reuses the answer, a remapped log counts again."""
    path = write("d.csv", "user_id,timestamp,event,device,channel\n"
                          "u1,2024-01-01 10:00:00,view,mobile,ads\nu1,2024-01-01 10:05:00,buy,mobile,ads\n"
                          "u2,2024-01-02 10:00:00,view,desktop,\nu3,2024-01-03 10:00:00,view,mobile,seo\n")
    log = journey.load(path)
    assert log.distinct_values("event") == ["view", "buy"]  # 3 views, 1 buy
    assert log.distinct_values("channel") == ["ads", "(none)", "seo"]  # 2, then 1 each by name
    mobile = log.where(devices=["mobile"])
    assert mobile.distinct_values("device") == ["mobile", "desktop"]  # the unfiltered values, as documented
    assert mobile._memo is log._memo and ("distinct_values", "event", 200) in log._memo
    swapped = journey.remap(log, log.mapping.with_overrides({"event": "device"}, log.source_columns()))
    assert swapped.distinct_values("event") == ["mobile", "desktop"]
    got = log.distinct_values("event")
    got.append("changed by the caller")
    assert log.distinct_values("event") == ["view", "buy"]


def test_columns_named_like_the_time_parsers_variables_load(write):
    """The time parser binds values to lambda parameters; a column of the same name used to break the load
    (a file with a column ``r`` failed with a binder error)."""
    log = journey.load(write("vars.csv", "user_id,timestamp,event,q,r,t,__ymd,__quick\n"
                                         "u1,2024-03-01 10:00:00,x,1,2,3,4,5\nu1,01/03/2024 11:30,y,1,2,3,4,5\n"))
    assert log.report.rows_loaded == 2
    assert {"q", "r", "t"} <= set(log.columns)
    times = [str(t) for t in log.db.run("SELECT ts FROM events ORDER BY ts").ts]
    assert times == ["2024-03-01 10:00:00", "2024-03-01 11:30:00"]
