"""Map every audio reference on a demo page to its table context (stdlib only).

For each <audio>/<source>/<a href> that points at an audio file, yields a dict:
  src        : the reference as written in the page
  table      : index of the enclosing <table> in the page (-1 if none)
  row, col   : row index in that table, column index (colspan aware)
  header     : text of the header cell above that column (first row(s) without audio)
  rowlabel   : text of the first cell of the row (if it holds no audio)
  heading    : text of the most recent h1-h6 before the element
  cell_text  : text inside the same cell (captions such as "Ground Truth")
"""
from html.parser import HTMLParser
import re

AUDIO_RE = re.compile(r"\.(wav|mp3|flac|ogg|m4a|opus)(\?.*)?$", re.I)


def _clean(s):
    return re.sub(r"\s+", " ", s or "").strip()


class _Cell:
    def __init__(self, tag, colspan, rowspan=1):
        self.tag = tag
        self.colspan = colspan
        self.rowspan = rowspan
        self.text = []
        self.audios = []  # list of src

    @property
    def txt(self):
        t = _clean(" ".join(self.text))
        return _clean(re.sub(r"Your browser does not support the audio( element| tag)?\.?", " ", t, flags=re.I))


class _Table:
    def __init__(self, idx, heading):
        self.idx = idx
        self.heading = heading
        self.rows = []  # list of list of _Cell
        self.cur_row = None
        self.cur_cell = None


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables = []  # finished tables
        self.stack = []
        self.n_tables = 0
        self.heading = ""
        self._in_heading = None
        self._heading_buf = []
        self.loose = []  # (src, heading, nearby text) audio outside tables
        self._recent_text = []
        self._skip = 0  # inside script/style

    # --- helpers
    def _add_audio(self, src):
        if not src or not AUDIO_RE.search(src.split("#")[0]):
            return
        if self.stack and self.stack[-1].cur_cell is not None:
            self.stack[-1].cur_cell.audios.append(src)
        else:
            self.loose.append((src, self.heading, _clean(" ".join(self._recent_text[-6:]))))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._in_heading = tag
            self._heading_buf = []
        if tag == "table":
            self.stack.append(_Table(self.n_tables, self.heading))
            self.n_tables += 1
        elif tag == "tr" and self.stack:
            t = self.stack[-1]
            t.cur_row = []
            t.rows.append(t.cur_row)
            t.cur_cell = None
        elif tag in ("td", "th") and self.stack:
            t = self.stack[-1]
            if t.cur_row is None:
                t.cur_row = []
                t.rows.append(t.cur_row)
            try:
                cs = int(a.get("colspan", "1") or 1)
            except ValueError:
                cs = 1
            try:
                rs = int(a.get("rowspan", "1") or 1)
            except ValueError:
                rs = 1
            t.cur_cell = _Cell(tag, cs, rs)
            t.cur_row.append(t.cur_cell)
        elif tag in ("audio", "source", "embed"):
            self._add_audio(a.get("src") or a.get("data-src"))
        elif tag == "a":
            self._add_audio(a.get("href"))
        elif tag == "br" and self.stack and self.stack[-1].cur_cell is not None:
            self.stack[-1].cur_cell.text.append(" ")
        elif tag == "img" and self.stack and self.stack[-1].cur_cell is not None:
            pass

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag == self._in_heading:
            self.heading = _clean(" ".join(self._heading_buf))
            self._in_heading = None
        if tag == "table" and self.stack:
            self.tables.append(self.stack.pop())
        elif tag in ("td", "th") and self.stack:
            self.stack[-1].cur_cell = None
        elif tag == "tr" and self.stack:
            self.stack[-1].cur_row = None

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_heading:
            self._heading_buf.append(data)
        if self.stack and self.stack[-1].cur_cell is not None:
            self.stack[-1].cur_cell.text.append(data)
        if data.strip():
            self._recent_text.append(data.strip())
            self._recent_text = self._recent_text[-20:]


def map_page(html_text):
    p = PageParser()
    p.feed(html_text)
    while p.stack:  # unclosed tables
        p.tables.append(p.stack.pop())
    out = []
    for t in sorted(p.tables, key=lambda t: t.idx):
        # place cells on a grid, honouring colspan and rowspan
        grid = []
        occupied = {}  # col -> rows still covered by a rowspan from above
        for r in t.rows:
            pos = 0
            cells = []
            for c in r:
                while occupied.get(pos, 0) > 0:
                    pos += 1
                cells.append((pos, c))
                if c.rowspan > 1:
                    for k in range(c.colspan):
                        occupied[pos + k] = c.rowspan  # decremented below
                pos += c.colspan
            # decrement rowspans (the row that opened them counts as one)
            for k in list(occupied):
                occupied[k] -= 1
                if occupied[k] <= 0:
                    del occupied[k]
            grid.append(cells)
        header = {}
        group = ""
        for ri, cells in enumerate(grid):
            has_audio = any(c.audios for _, c in cells)
            if not has_audio:
                texts = [(pos, c) for pos, c in cells if c.txt]
                if not texts:
                    continue
                ncols = max([pos + c.colspan for pos, c in cells] + [1])
                if len(texts) == 1 and texts[0][1].colspan > 1 and ncols > 1:
                    group = texts[0][1].txt
                else:
                    for pos, c in texts:
                        for k in range(c.colspan):
                            header[pos + k] = c.txt
                continue
            rowlabel = ""
            if cells and not cells[0][1].audios:
                rowlabel = cells[0][1].txt
            for pos, c in cells:
                for src in c.audios:
                    out.append(dict(src=src, table=t.idx, row=ri, col=pos,
                                    header=header.get(pos, ""), group=group, rowlabel=rowlabel,
                                    heading=t.heading, cell_text=c.txt))
    for src, heading, near in p.loose:
        out.append(dict(src=src, table=-1, row=-1, col=-1, header="", group="", rowlabel="",
                        heading=heading, cell_text=near))
    return out


if __name__ == "__main__":
    import sys, json
    for f in sys.argv[1:]:
        for d in map_page(open(f, encoding="utf-8", errors="replace").read()):
            print(json.dumps(d, ensure_ascii=False))
