from __future__ import annotations

from gristmill.pipeline.charset import decode_html, looks_binary, normalize_label


def test_whatwg_labels():
    assert normalize_label("GB2312") == "gb18030"
    assert normalize_label("iso-8859-1") == "cp1252"
    assert normalize_label("utf8") == "utf-8"
    assert normalize_label("no-such-charset") is None
    # Python codecs that are no page's charset: a page labelled so is decoded by its next label.
    for label in ("base64", "hex", "zip", "rot13", "utf-7", "unicode_escape", "undefined"):
        assert normalize_label(label) is None, label
    text, codec, bad = decode_html("<p>naïve café</p>".encode(), "hex")
    assert (text, codec, bad) == ("<p>naïve café</p>", "utf-8", 0.0)


def test_header_then_meta_then_detection():
    page = "<html><head><meta charset='windows-1251'></head><body>Привет, мир</body></html>"
    data = page.encode("cp1251")
    text, codec, bad = decode_html(data, None)
    assert (codec, bad) == ("cp1251", 0.0) and "Привет" in text
    # A wrong header that cannot decode the bytes falls through to the meta charset.
    text, codec, _ = decode_html(data, "utf-8")
    assert codec == "cp1251" and "Привет" in text
    gbk = "<html><body>中文网页内容，测试编码</body></html>".encode("gb18030")
    assert "中文" in decode_html(gbk, "gb2312")[0]


def test_latin1_bytes_labelled_utf8_still_decode():
    data = "<html><body>Café crème, déjà vu</body></html>".encode("cp1252")
    text, codec, bad = decode_html(data, "utf-8")
    assert codec != "utf-8" and bad == 0.0 and "Café" in text


def test_utf16_with_bom():
    data = "<html><body>hello</body></html>".encode("utf-16")
    assert decode_html(data, None)[0] == "<html><body>hello</body></html>"


def test_binary_detection():
    assert looks_binary(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert not looks_binary(b"<html><body>plain</body></html>")
    wide = "<html><body>plain</body></html>".encode("utf-16-le")  # no BOM: NULs between letters
    assert looks_binary(wide) and not looks_binary(wide, "UTF-16LE")
    assert looks_binary(b"%PDF-1.7\n", "utf-16le")  # a signature is binary whatever the label
