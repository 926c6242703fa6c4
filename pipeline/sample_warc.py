"""The demo input: a small Common Crawl-like WARC, generated at run time with planted cases.

Why generated rather than shipped: ``make demo`` must run offline on a fresh clone and the project
may not ship third-party data files. Every CPython 3.11 install carries ``pydoc_data.topics`` (the
language reference as plain text), so the English prose comes from there; the German, French and
Spanish pages use short passages written for this module. Each category of page is planted so that
every stage has something to do, and ``sample_expected.json`` says what was planted where, so tests
can check the pipeline's decisions: good, exact_duplicates, near_duplicates, spam, low_quality,
non_english, contaminated, non_html, charset and empty. Beside the WARC: the benchmark, the
reference prose and crawl-like negatives (:mod:`gristmill.pipeline.sample_crawl`), the two sides
the demo's quality classifier is trained on.

Pydoc paragraphs are used at most once and never when they share a 13-gram with a paragraph used
before (several topics repeat each other, e.g. ``compound`` holds ``if``/``try``/...), so good pages
are not accidental duplicates of each other, the reference text does not occur in any page, and a
benchmark passage occurs only where it was planted.

Deterministic: record ids are uuid5 of type and URI, WARC-Dates are fixed, every choice comes from
``random.Random(seed)``, and warcio compresses each record as its own gzip member through zlib,
whose header carries mtime 0. Same seed and Python version give byte-identical files (the pydoc
text itself differs slightly between Python patch releases).
"""

from __future__ import annotations

import argparse
import html
import importlib
import inspect
import json
import random
import re
import struct
import sys
import unicodedata
import uuid
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from io import BytesIO
from pathlib import Path
from pydoc_data.topics import topics as PYDOC_TOPICS
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from gristmill.pipeline.sample_crawl import crawl_pages

# Topic roles. Claim order matters: benchmark paragraphs are claimed first, so no page or reference
# line can repeat them; everything not listed here feeds web pages.
BENCHMARK_TOPICS = ("execmodel", "calls", "import", "raise", "global")
REFERENCE_TOPICS = ("formatstrings", "strings", "identifiers")
N_GOOD, N_EXACT, N_NEAR, N_BENCHMARK, N_HEAVY, N_LIGHT = 80, 8, 8, 20, 12, 5
# Crawl-like pages planted for the classifier to remove, and crawl-like negatives to train it on.
N_LOW_QUALITY, N_NEGATIVES = 12, 600
NEAR_DUP_RATE = 0.02  # share of words replaced: ~0.8 Jaccard on word 5-gram shingles
GAP_CHARS = 700  # clean text around each planted passage: > 2 x 200 chars survive decontamination
CRAWL_START = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
HEADING_RULE = re.compile(r"[*=\-^~]{3,}")
SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=["A-Z(])')

CATEGORIES = (
    "good",
    "exact_duplicates",
    "near_duplicates",
    "spam",
    "low_quality",
    "non_english",
    "contaminated",
    "non_html",
    "charset",
    "empty",
)
Block = tuple[str, str]  # (tag, text): "p"/"h2" hold plain text, "raw" holds trusted HTML


@dataclass(frozen=True)
class SamplePaths:
    """The files of a sample; ``expected`` is what tests compare the pipeline's output to;
    ``reference`` and ``negative`` are the two sides a quality classifier is trained on."""

    warc: Path
    benchmark: Path
    reference: Path
    negative: Path
    expected: Path


@dataclass(frozen=True)
class Site:
    """A website template: pages of one host share its nav and footer, as on real sites."""

    host: str
    name: str
    nav: tuple[str, ...]
    lang: str = "en"


FOOTERS = {
    "en": "All rights reserved. We use cookies to personalise content and analyse our traffic. "
    "By continuing to browse this site you agree to our cookie policy. Privacy | Terms | Contact",
    "de": "Alle Rechte vorbehalten. Diese Website verwendet Cookies. Wenn Sie weiter surfen, "
    "stimmen Sie unserer Datenschutzerklärung zu. Impressum | Datenschutz | Kontakt",
    "fr": "Tous droits réservés. Ce site utilise des cookies pour mesurer l'audience. En "
    "poursuivant la navigation, vous les acceptez. Mentions légales | Contact",
    "es": "Todos los derechos reservados. Este sitio utiliza cookies propias y de terceros. Si "
    "continúa navegando, acepta su uso. Aviso legal | Privacidad | Contacto",
}
EN_SITES = (
    Site("pyguide", "PyGuide", ("Home", "Tutorials", "Reference", "Blog", "About")),
    Site("codenotes", "Code Notes", ("Start", "Articles", "Snippets", "Newsletter", "Contact")),
    Site("devjournal", "Dev Journal", ("Home", "Posts", "Archive", "Subscribe")),
    Site("learnit", "LearnIT Academy", ("Courses", "Lessons", "Pricing", "Login", "Sign up")),
    Site("techwiki", "TechWiki", ("Main page", "Random article", "Recent changes", "Help")),
)
MIRROR_SITES = (
    Site("mirror-docs", "Mirror Docs", ("Home", "Docs", "Download")),
    Site("contentfarm", "Best Dev Tips", ("Top 10", "Trending", "Deals", "Jobs", "Contact us")),
)
SPAM_SITE = Site("best-deals-now", "Best Deals Now", ("Hot", "Casino", "Pharmacy", "Loans"))
CRAWL_SITES = (
    Site("dealhunter", "Deal Hunter", ("Deals", "Coupons", "Stores", "Blog")),
    Site("buzzfeedly", "Buzzfeedly", ("News", "Celebs", "Quizzes", "Videos")),
    Site("cityfinder", "City Finder", ("Businesses", "Jobs", "Homes", "Post an ad")),
)
LANG_SITES = {
    "de": Site("alltag-magazin", "Alltag Magazin", ("Startseite", "Themen", "Kontakt"), "de"),
    "fr": Site("carnet-pratique", "Carnet pratique", ("Accueil", "Rubriques", "Contact"), "fr"),
    "es": Site("vida-diaria", "Vida diaria", ("Inicio", "Temas", "Contacto"), "es"),
}

# Original passages (one paragraph per blank-line-separated block) so lid.176 has real text.
FOREIGN = {
    "de": """
Wer zum ersten Mal ein eigenes Brot backt, braucht vor allem Geduld. Mehl, Wasser, Salz und ein
wenig Hefe genügen für einen einfachen Laib, doch die Zeit ist die wichtigste Zutat. Der Teig sollte
mehrere Stunden an einem warmen Ort ruhen, damit die Hefe arbeiten kann und sich das Aroma
entwickelt. Viele Bäckerinnen und Bäcker lassen ihren Teig sogar über Nacht im Kühlschrank gehen,
weil das Brot dadurch bekömmlicher wird und eine kräftigere Kruste bekommt. Vor dem Backen wird der
Ofen gut vorgeheizt, am besten mit einem gusseisernen Topf darin. Eine Schale mit Wasser auf dem
Boden des Ofens sorgt für Dampf, der die Kruste glänzend und knusprig macht. Nach dem Backen sollte
das Brot vollständig auskühlen, bevor man es anschneidet, auch wenn der Duft dazu verführt.

Das Wandern in den deutschen Mittelgebirgen ist in den letzten Jahren wieder sehr beliebt geworden.
Gut markierte Wege führen durch Buchenwälder, über offene Hochflächen und an kleinen Bächen entlang,
sodass man auch ohne Karte selten die Orientierung verliert. Für eine Tageswanderung reichen feste
Schuhe, eine Regenjacke und ausreichend Wasser. Wer länger unterwegs sein möchte, findet in vielen
Regionen einfache Hütten und Gasthäuser, in denen man übernachten und regionale Gerichte probieren
kann. Besonders schön ist die Zeit im Herbst, wenn sich die Blätter verfärben und die Luft klar und
kühl ist. Rücksicht auf die Natur gehört selbstverständlich dazu: Abfälle nimmt man wieder mit, und
in Schutzgebieten bleibt man auf den ausgewiesenen Wegen.

Öffentliche Bibliotheken sind weit mehr als Orte, an denen man Bücher ausleihen kann. In vielen
Städten haben sie sich zu Treffpunkten entwickelt, an denen Menschen aller Altersgruppen lernen,
arbeiten und sich austauschen. Neben Romanen und Sachbüchern bieten sie Zeitschriften, Hörbücher,
Filme und oft auch Brettspiele an. Wer einen Bibliotheksausweis besitzt, kann außerdem digitale
Medien auf das eigene Tablet laden, ohne das Haus zu verlassen. Für Kinder gibt es Vorlesestunden,
für Schulklassen Führungen und für ältere Menschen Kurse, in denen der Umgang mit dem Computer
erklärt wird. Damit dieses Angebot erhalten bleibt, sind Bibliotheken auf die Unterstützung ihrer
Gemeinden angewiesen, denn Personal, Räume und neue Bestände kosten jedes Jahr Geld.

Immer mehr Menschen nutzen das Fahrrad für den täglichen Weg zur Arbeit. Auf kurzen Strecken in der
Stadt ist man damit oft schneller als mit dem Auto, weil die Suche nach einem Parkplatz entfällt und
Staus keine Rolle spielen. Ein gut gewartetes Rad braucht nur wenig Pflege: Die Kette sollte
regelmäßig gereinigt und geölt werden, und der Luftdruck der Reifen muss stimmen. Wichtig sind
außerdem funktionierende Bremsen und eine helle Beleuchtung, vor allem in den dunklen Wintermonaten.
Viele Städte bauen ihre Radwege aus und richten sichere Abstellplätze an Bahnhöfen ein. Wer
regelmäßig fährt, tut nebenbei etwas für die eigene Gesundheit und beginnt den Tag meist wacher.
""",
    "fr": """
Le marché de quartier reste, dans beaucoup de villes françaises, un rendez-vous essentiel de la
semaine. Dès le matin, les maraîchers installent leurs étals de légumes de saison, les fromagers
disposent leurs meules et les boulangers proposent des pains encore tièdes. On y vient pour faire
ses courses, mais aussi pour discuter avec les commerçants, qui connaissent souvent leurs clients
par leur prénom. Acheter au marché permet de trouver des produits cultivés près de chez soi et de
suivre le rythme des saisons : les fraises au printemps, les tomates en été, les courges et les
pommes en automne. Vers midi, les allées se vident peu à peu et les marchands rangent leurs caisses
jusqu'à la semaine suivante.

Cultiver un petit potager demande moins de place qu'on ne l'imagine. Quelques bacs sur un balcon ou
une bande de terre le long d'un mur suffisent pour récolter des herbes aromatiques, des salades et
quelques tomates. Le plus important est de choisir un endroit bien ensoleillé et d'enrichir la terre
avec du compost avant de semer. Il vaut mieux commencer par des plantes faciles, comme les radis,
qui poussent en quelques semaines et encouragent les jardiniers débutants. L'arrosage se fait de
préférence le soir, lorsque la chaleur est retombée. Un paillage de feuilles mortes garde le sol
humide et limite la pousse des mauvaises herbes. Avec un peu de patience, chaque récolte devient
plus précieuse.

Le train de nuit connaît un regain d'intérêt auprès des voyageurs qui souhaitent parcourir de
longues distances sans prendre l'avion. On monte à bord en fin de soirée, on s'installe dans une
couchette et l'on se réveille le lendemain matin dans une autre région, parfois dans un autre pays.
Les compartiments sont simples, mais ils offrent un drap, une couverture et un oreiller. Le
bercement régulier des wagons aide beaucoup de passagers à s'endormir rapidement. Ce mode de
transport permet aussi d'économiser une nuit d'hôtel et de profiter pleinement de la première
journée sur place. Il est conseillé de réserver sa place plusieurs semaines à l'avance, surtout
pendant les vacances scolaires.

En montagne, le temps peut changer très vite, même au milieu de l'été. Une matinée ensoleillée peut
laisser place à un orage violent en début d'après-midi, lorsque l'air chaud monte le long des
pentes. C'est pourquoi les randonneurs expérimentés partent tôt et prévoient de redescendre avant
que les nuages ne s'accumulent. Il est prudent de consulter les prévisions la veille, de prévenir un
proche de son itinéraire et d'emporter des vêtements chauds, même lorsqu'il fait beau dans la
vallée. Les refuges gardés offrent un abri et des repas simples, mais ils sont souvent complets en
juillet et en août. Respecter ces quelques règles permet de profiter des paysages en sécurité.
""",
    "es": """
Las legumbres ocupan un lugar importante en la cocina tradicional de muchas regiones de España. Un
buen plato de lentejas se prepara con ingredientes sencillos: cebolla, zanahoria, ajo, pimentón, una
hoja de laurel y un chorrito de aceite de oliva. Conviene lavar las lentejas antes de cocinarlas y,
si son de una variedad grande, dejarlas en remojo durante unas horas. Después se cuecen a fuego
lento con las verduras troceadas hasta que estén tiernas, lo que suele llevar entre treinta y
cuarenta minutos. Muchas familias añaden patata o un poco de arroz para que el guiso resulte más
completo. Las lentejas son baratas, se conservan bien y aportan proteínas, fibra y hierro. Además,
el guiso suele estar todavía más sabroso al día siguiente.

Los museos pequeños de las ciudades de provincia suelen pasar desapercibidos para los turistas, pero
guardan colecciones muy interesantes. En sus salas se pueden encontrar herramientas antiguas, trajes
tradicionales, fotografías de otras épocas y objetos cotidianos que cuentan cómo vivían los
habitantes de la región. La visita es tranquila, porque rara vez hay colas, y los guías tienen
tiempo para responder a las preguntas con calma. Muchos de estos museos organizan talleres para
niños, exposiciones temporales y conferencias gratuitas los fines de semana. Antes de ir, conviene
consultar el horario, ya que algunos abren solo por la mañana o cierran en invierno.

Aprender a tocar la guitarra es un propósito habitual para muchas personas adultas que nunca
estudiaron música de pequeñas. Al principio, los dedos duelen un poco y los acordes suenan apagados,
pero con unos minutos de práctica diaria los avances llegan antes de lo que uno espera. Es mejor
practicar un rato cada día que hacerlo durante horas una sola vez por semana. Los profesores suelen
recomendar empezar con canciones sencillas de tres o cuatro acordes y usar un metrónomo para
mantener el ritmo. Tocar con otras personas, aunque sea en un grupo de aficionados, motiva mucho y
enseña a escuchar. Con el tiempo, la guitarra se convierte en una compañera para relajarse.

Las plantas de interior alegran cualquier casa, pero necesitan algunos cuidados para mantenerse
sanas. El error más frecuente es regarlas demasiado: la mayoría prefiere que la tierra se seque
ligeramente entre un riego y el siguiente. Antes de comprar una planta, conviene fijarse en la luz
que recibe la habitación, porque algunas especies necesitan sol directo y otras crecen mejor en
rincones con sombra. En invierno, la calefacción reseca el ambiente, así que pulverizar las hojas
con agua de vez en cuando les sienta bien. Si aparecen hojas amarillas, suele ser una señal de
exceso de agua o de falta de luz, y basta con cambiar la planta de lugar para que se recupere.
""",
}
# (path, language, body encoding, charset in the HTTP header or None, meta charset, text). The
# windows-1252 texts use characters latin-1 lacks (œ € … „ “ –); the third page's header is wrong.
CHARSET_PAGES = (
    (
        "librairie",
        "fr",
        "cp1252",
        "windows-1252",
        "windows-1252",
        "Au cœur de l’hiver, la petite librairie du village organise chaque samedi une « heure "
        "du conte » pour les enfants. Les parents y boivent un café à 2 € pendant que la libraire "
        "lit à voix haute des histoires d’ogres, de sœurs courageuses et de renards malicieux… Les "
        "étagères en bois, un peu usées, débordent de romans, de bandes dessinées et de cartes "
        "anciennes. Pour beaucoup d’habitants, c’est devenu un lieu de rencontre où l’on échange des "
        "conseils de lecture, des recettes et des nouvelles du quartier, loin des grandes surfaces.",
    ),
    (
        "fete-du-village",
        "fr",
        "latin-1",
        "iso-8859-1",
        "iso-8859-1",
        "La fête du village a lieu chaque année à la fin du mois d'août, sur la place de l'église. "
        "Dès le début de l'après-midi, les bénévoles installent des tables, des guirlandes et une "
        "petite scène où se succèdent des musiciens amateurs. Les enfants participent à des jeux, "
        "les anciens jouent aux boules à l'ombre des platanes et les familles partagent des crêpes, "
        "des gâteaux maison et des jus de fruits frais. Le soir, un bal populaire réunit toutes les "
        "générations jusqu'à minuit, et chacun repart en promettant de revenir l'été suivant.",
    ),
    (
        "wochenmarkt",
        "de",
        "cp1252",
        "utf-8",
        "windows-1252",
        "Der Wochenmarkt auf dem Rathausplatz ist für viele Familien ein fester Termin am "
        "Samstagmorgen. Zwischen den Ständen duftet es nach frischem Kaffee, gebrannten Mandeln und "
        "warmem Brot. Die Händlerinnen und Händler bieten Äpfel, Kartoffeln, Käse und Blumen aus der "
        "Umgebung an – oft zu fairen Preisen. „Hier weiß ich, woher mein Gemüse kommt“, sagt eine "
        "Kundin, die seit über zwanzig Jahren jede Woche vorbeischaut. Gegen Mittag wird es ruhiger, "
        "und die letzten Kisten werden in die Transporter geladen, bis zum nächsten Samstag.",
    ),
    (
        "caminar",
        "es",
        "latin-1",
        None,
        "iso-8859-1",
        "¿Sabías que caminar media hora al día mejora el ánimo y el descanso? Los médicos recuerdan "
        "que no hace falta correr ni apuntarse a un gimnasio para notar los beneficios del "
        "ejercicio. Basta con subir las escaleras en lugar de usar el ascensor, bajarse del autobús "
        "una parada antes o dar un paseo después de cenar. ¡Incluso en la ciudad hay parques, "
        "avenidas y plazas muy agradables para caminar! Lo importante es mantener la constancia, "
        "llevar un calzado cómodo y beber agua, sobre todo en los días de calor del verano español.",
    ),
)
CASINO = (
    "online casino",
    "free spins",
    "jackpot",
    "bonus",
    "slots",
    "win big",
    "poker",
    "best odds",
    "no deposit",
)
PHARMA = (
    "cheap pills",
    "buy online",
    "no prescription",
    "discount",
    "pharmacy",
    "generic",
    "best price",
)
LOANS = ("payday loans", "fast cash", "bad credit ok", "instant approval", "low rates", "apply now")
LOREM = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
)
FILLER_WORDS = ("value", "object", "thing", "item", "data", "result", "name", "really", "simply")


def _ngrams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    """Lower-cased word n-grams, as GPT-3's decontamination compares them."""
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _topic_paragraphs(name: str) -> list[tuple[str, str]]:
    """(section heading, prose paragraph) pairs of a pydoc topic; grammar and code are skipped."""
    out, heading = [], name
    for block in re.split(r"\n\s*\n", PYDOC_TOPICS.get(name, "").strip()):
        lines = block.split("\n")
        if len(lines) == 2 and HEADING_RULE.fullmatch(lines[1].strip()):
            heading = lines[0].strip()
            continue
        if not lines[0] or lines[0][0].isspace() or lines[0][0] in "+|":
            continue  # code sample, grammar rule, indented note or table
        if len(lines) > 1 and lines[1][:1].isspace():
            lines = lines[1:]  # definition list: keep the body, drop the term
        text = " ".join(" ".join(lines).split()).removeprefix("* ")
        # Pydoc's plain text quotes code ("None") and stars emphasis (*generator*, **PEP 8**)
        # where the web pages of the docs use markup, which extraction drops: as a web page has
        # it, the text meets Gopher's share of words with a letter.
        text = text.replace('"', "").replace("*", "")
        if len(text.split()) >= 10 and not text[0].islower():  # lower case: rest of a table
            out.append((heading, text))
    return out


def _claim_paragraphs() -> dict[str, list[tuple[str, str, str]]]:
    """Every usable paragraph once, by role; none shares a 13-gram with another (see module doc)."""
    roles = dict.fromkeys(BENCHMARK_TOPICS, "benchmark") | dict.fromkeys(REFERENCE_TOPICS, "ref")
    order = [*BENCHMARK_TOPICS, *REFERENCE_TOPICS, *sorted(set(PYDOC_TOPICS) - set(roles))]
    seen: set[tuple[str, ...]] = set()
    claimed: dict[str, list[tuple[str, str, str]]] = {"benchmark": [], "ref": [], "web": []}
    for topic in order:
        for heading, para in _topic_paragraphs(topic):
            grams = _ngrams(para)
            if grams & seen:
                continue
            seen |= grams
            claimed[roles.get(topic, "web")].append((topic, heading, para))
    return claimed


# Standard-library modules whose docstrings add English prose to the reference text, so the
# demo's classifier and LM train on hundreds of paragraphs (fastText needs that many).
DOCSTRING_MODULES = (
    "argparse", "asyncio", "calendar", "collections", "concurrent.futures", "contextlib", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "email", "enum", "fractions", "functools",
    "gettext", "heapq", "html.parser", "http.client", "imaplib", "inspect", "ipaddress",
    "itertools", "json", "logging", "mailbox", "multiprocessing", "optparse", "os", "pathlib",
    "pickle", "pprint", "queue", "random", "shutil", "smtplib", "socket", "sqlite3",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
    "unittest", "urllib.parse", "uuid", "warnings", "zipfile",
)  # fmt: skip


def _docstring_paragraphs(taken: set[tuple[str, ...]]) -> list[str]:
    """Prose paragraphs from stdlib docstrings sharing no 13-gram with ``taken`` or each other."""
    out: list[str] = []
    seen = set(taken)
    for name in DOCSTRING_MODULES:
        module = importlib.import_module(name)
        objects = [module] + [
            getattr(module, attr) for attr in sorted(vars(module)) if not attr.startswith("_")
        ]
        for obj in objects:
            with warnings.catch_warnings():  # some attributes are deprecated aliases
                warnings.simplefilter("ignore")
                doc = inspect.getdoc(obj) if callable(obj) or obj is module else None
            for block in (doc or "").split("\n\n"):
                lines = block.splitlines()
                if not lines or any(ln[:1].isspace() or ">>>" in ln for ln in lines):
                    continue
                text = " ".join(block.split())
                grams = _ngrams(text)
                if len(text.split()) >= 12 and text[0].isupper() and grams and not grams & seen:
                    seen |= grams
                    out.append(text)
    return out


def _benchmark_items(paragraphs: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    """Items of a sentence as the question and the next 2-3 sentences (>= 30 words) as the answer,
    so each holds several 13-grams to match on; items never overlap each other."""
    items: list[dict[str, str]] = []
    for _topic, _heading, para in paragraphs:
        sents, i = SENTENCE_END.split(para), 0
        while i < len(sents) - 2 and len(items) < N_BENCHMARK:
            k = next(
                (k for k in (2, 3) if len(" ".join(sents[i + 1 : i + 1 + k]).split()) >= 30), 0
            )
            answer = " ".join(sents[i + 1 : i + 1 + k])
            if k and len(sents[i].split()) >= 13 and not answer.endswith(":"):
                items.append(
                    {"id": f"pydoc-qa-{len(items):03d}", "question": sents[i], "answer": answer}
                )
                i += k
            i += 1
    return items


def _take(stream: list[tuple[str, str, str]], min_chars: int) -> list[Block]:
    """Pop paragraphs off the end of the web stream until they hold at least min_chars."""
    taken: list[str] = []
    while stream and sum(map(len, taken)) < min_chars:
        taken.insert(0, stream.pop()[2])
    return [("p", text) for text in taken]


def _good_pages(
    stream: list[tuple[str, str, str]], rng: random.Random
) -> list[tuple[str, list[Block]]]:
    """Consecutive paragraphs of 1-3 topics per page, 150+ words, section changes as <h2>."""
    pages: list[tuple[str, list[Block]]] = []
    i = 0
    while len(pages) < N_GOOD and i < len(stream):
        target, words, blocks = rng.randint(150, 250), 0, []
        topics: set[str] = set()
        title = heading = stream[i][1]
        while i < len(stream) and words < target:
            topic, head, para = stream[i]
            if topic not in topics and len(topics) == 3:
                break
            if head != heading:
                blocks.append(("h2", head))
            topics.add(topic)
            heading, i, words = head, i + 1, words + len(para.split())
            blocks.append(("p", para))
        if words >= 150:
            pages.append((title, blocks))
    return pages


def _perturb(blocks: list[Block], rng: random.Random) -> list[Block]:
    """Replace ~NEAR_DUP_RATE of the paragraph words: a near-duplicate, as scrapers produce."""
    words = [
        (b, w)
        for b, (tag, text) in enumerate(blocks)
        if tag == "p"
        for w in range(len(text.split(" ")))
    ]
    picks = rng.sample(words, max(1, round(NEAR_DUP_RATE * len(words))))
    split = [text.split(" ") for _tag, text in blocks]
    for b, w in picks:  # keep the punctuation around the word, so sentences stay sentences
        word = split[b][w]
        new = rng.choice([x for x in FILLER_WORDS if x not in word])
        split[b][w] = re.sub(r"\w+", new, word, count=1) if re.search(r"\w", word) else new
    return [(tag, " ".join(words)) for (tag, _text), words in zip(blocks, split, strict=True)]


def _spam_pages(rng: random.Random) -> list[tuple[str, str, list[Block]]]:
    """Low-quality pages a quality filter must catch: stuffing, repetition, link farms, stubs."""

    def stuffed(words: Sequence[str], n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "!"

    def links(words: Sequence[str], n: int) -> list[Block]:
        items = (f"{rng.choice(words)} {i}" for i in range(n))
        return [
            (
                "raw",
                "<ul>"
                + "".join(
                    f'<li><a href="/go/{i}">{html.escape(t)}</a></li>' for i, t in enumerate(items)
                )
                + "</ul>",
            )
        ]

    lorem = " ".join(LOREM[:8]).capitalize() + ", " + " ".join(LOREM[8:]) + "."
    return [
        ("casino-bonus", "Best Online Casino Bonus Free Spins", [("p", stuffed(CASINO, 60))] * 4),
        ("cheap-pills", "Cheap Pills Online No Prescription", [("p", stuffed(PHARMA, 80))] * 3),
        ("payday", "Payday Loans Fast Cash", [("p", stuffed(LOANS, 50)) for _ in range(4)]),
        ("prize", "Congratulations!", [("p", "Click here to claim your free prize now!")] * 40),
        ("comments", "Guestbook", [("p", "Great post, thanks for sharing! Visit my site.")] * 25),
        ("watches", "Cheap Watches Directory", links(["cheap watches", "replica", "rolex"], 80)),
        ("related", "Related Searches", links(CASINO + PHARMA + LOANS, 40)),
        ("coming-soon", "Coming soon", [("p", "Our new website is under construction.")]),
        ("not-found", "Page not found", [("p", "Sorry, the page you requested was not found.")]),
        ("enable-js", "Loading", [("p", "Please enable JavaScript to view this page.")]),
        ("lorem", "Lorem ipsum", [("p", lorem)] * 5),
        (
            "lorem-shuffled",
            "Lorem",
            [("p", " ".join(rng.choices(LOREM, k=70)).capitalize() + ".") for _ in range(3)],
        ),
    ]


def _html(site: Site, title: str, blocks: list[Block] | None, charset: str = "utf-8") -> str:
    """A page with the boilerplate a main-content extractor must remove; blocks=None: no <main>."""
    nav = "".join(
        f'<li><a href="/{item.lower().replace(" ", "-")}">{html.escape(item)}</a></li>'
        for item in site.nav
    )
    parts = [
        f'<!DOCTYPE html>\n<html lang="{site.lang}">\n<head><meta charset="{charset}">',
        f"<title>{html.escape(title)} | {html.escape(site.name)}</title></head>\n<body>",
        f'<header><a class="logo" href="/">{html.escape(site.name)}</a></header>',
        f"<nav><ul>{nav}</ul></nav>",
    ]
    if blocks is not None:
        parts.append(f"<main><article>\n<h1>{html.escape(title)}</h1>")
        parts += [
            text if tag == "raw" else f"<{tag}>{html.escape(text, quote=False)}</{tag}>"
            for tag, text in blocks
        ]
        parts.append("</article></main>")
    parts.append(f"<footer><p>© 2024 {html.escape(site.name)}. {FOOTERS[site.lang]}</p></footer>")
    return "\n".join([*parts, "</body>\n</html>\n"])


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:48]


def _png() -> bytes:
    """A valid 8x8 grey PNG: real binary bytes (NULs included) behind an image/png header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(range(0, 256, 32)) for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids "
    b"[] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
)


def _record_id(kind: str, uri: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + ':' + uri)}>"


def _write_warc(out: BinaryIO, pages: list[tuple[str, bytes, str | None]]) -> None:
    """warcinfo, then a request/response pair per page, as Common Crawl orders them."""
    writer = WARCWriter(out, gzip=True, warc_version="1.0")
    info_id = _record_id("warcinfo", "sample.warc.gz")
    info = (
        f"software: gristmill pipeline.sample_warc\r\nformat: WARC File Format 1.0\r\n"
        f"description: synthetic demo crawl from pydoc_data.topics of Python "
        f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}\r\n"
        f"isPartOf: gristmill-sample\r\n"
    ).encode()
    writer.write_record(
        writer.create_warc_record(
            "",
            "warcinfo",
            payload=BytesIO(info),
            length=len(info),
            warc_content_type="application/warc-fields",
            warc_headers_dict={
                "WARC-Type": "warcinfo",
                "WARC-Date": _iso(CRAWL_START),
                "WARC-Record-ID": info_id,
                "WARC-Filename": "sample.warc.gz",
            },
        )
    )
    for n, (uri, body, content_type) in enumerate(pages):
        when = CRAWL_START + timedelta(seconds=7 * (n + 1))
        host, path = uri.removeprefix("https://").split("/", 1)
        common = {
            "WARC-Date": _iso(when),
            "WARC-Warcinfo-ID": info_id,
            "WARC-IP-Address": f"192.0.2.{1 + n % 250}",
        }
        response_id = _record_id("response", uri)
        request = StatusAndHeaders(
            f"GET /{path} HTTP/1.1",
            [("Host", host), ("User-Agent", "gristmill-sample/1.0"), ("Accept", "text/html")],
            is_http_request=True,
        )
        headers = [("Date", format_datetime(when, usegmt=True)), ("Server", "nginx")]
        headers += [("Content-Type", content_type)] if content_type else []
        headers += [("Content-Length", str(len(body)))]
        writer.write_record(
            writer.create_warc_record(
                uri,
                "request",
                http_headers=request,
                warc_headers_dict={
                    "WARC-Type": "request",
                    **common,
                    "WARC-Record-ID": _record_id("request", uri),
                    "WARC-Concurrent-To": response_id,
                },
            )
        )
        writer.write_record(
            writer.create_warc_record(
                uri,
                "response",
                payload=BytesIO(body),
                length=len(body),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                warc_headers_dict={
                    "WARC-Type": "response",
                    **common,
                    "WARC-Record-ID": response_id,
                },
            )
        )


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_sample(out_dir: Path, seed: int = 0) -> SamplePaths:
    """Write the sample WARC, benchmark, reference text and the manifest of what was planted."""
    rng = random.Random(seed)
    claimed = _claim_paragraphs()
    items = _benchmark_items(claimed["benchmark"])
    # Benchmark-topic paragraphs that hold no item are clean text like any other.
    stream = [t for t in claimed["benchmark"] if not any(it["question"] in t[2] for it in items)]
    stream += claimed["web"]
    expected: dict[str, Any] = {
        "seed": seed,
        "categories": {c: [] for c in CATEGORIES},
        "duplicate_of": {},
        "contamination": {},
        "heavily_contaminated": [],
        "benchmark_not_planted": [],
        "languages": {},
        "charsets": {},
    }
    pages: list[tuple[str, bytes, str | None]] = []
    utf8 = "text/html; charset=utf-8"

    def add(category: str, site: Site, path: str, title: str, blocks: list[Block] | None) -> str:
        uri = f"https://{site.host}.example/{path}"
        pages.append((uri, _html(site, title, blocks).encode(), utf8))
        expected["categories"][category].append(uri)
        return uri

    # Contaminated pages first, so their clean text comes off the stream before good pages take it.
    order = rng.sample(items, len(items))
    heavy, light = order[:N_HEAVY], order[N_HEAVY : N_HEAVY + N_LIGHT]
    contaminated: list[tuple[str, list[dict[str, str]], list[Block]]] = []
    blocks: list[Block] = []
    for item in heavy:
        blocks += [*_take(stream, GAP_CHARS), ("p", f"{item['question']} {item['answer']}")]
    contaminated.append(("Python language notes", heavy, [*blocks, *_take(stream, GAP_CHARS)]))
    for item in light:
        title, passage = stream[-1][1], ("p", f"{item['question']} {item['answer']}")
        contaminated.append((title, [item], [*_take(stream, 1200), passage, *_take(stream, 800)]))

    good = _good_pages(stream, rng)
    good_uris = [
        add("good", EN_SITES[i % len(EN_SITES)], f"articles/{i:03d}-{_slug(t)}.html", t, b)
        for i, (t, b) in enumerate(good)
    ]
    sources = rng.sample(range(len(good)), N_EXACT + N_NEAR)
    for k, src in enumerate(sources):
        title, blocks = good[src]
        near = k >= N_EXACT
        site = MIRROR_SITES[near]
        uri = add(
            "near_duplicates" if near else "exact_duplicates",
            site,
            f"copy/{k:02d}-{_slug(title)}.html",
            title,
            _perturb(blocks, rng) if near else blocks,
        )
        expected["duplicate_of"][uri] = good_uris[src]
    for k, (title, planted, blocks) in enumerate(contaminated):
        uri = add(
            "contaminated",
            EN_SITES[k % len(EN_SITES)],
            f"notes/{k:02d}-{_slug(title)}.html",
            title,
            blocks,
        )
        expected["contamination"][uri] = [item["id"] for item in planted]
        if k == 0:
            expected["heavily_contaminated"].append(uri)
    planted_ids = {i for ids in expected["contamination"].values() for i in ids}
    expected["benchmark_not_planted"] = [it["id"] for it in items if it["id"] not in planted_ids]

    for path, title, blocks in _spam_pages(rng):
        add("spam", SPAM_SITE, f"{path}.html", title, blocks)
    crawl_like = crawl_pages(random.Random(f"low_quality:{seed}"), N_LOW_QUALITY)
    for k, (title, paragraphs) in enumerate(crawl_like):
        site = CRAWL_SITES[k % len(CRAWL_SITES)]
        add(
            "low_quality",
            site,
            f"p/{k:02d}-{_slug(title)}.html",
            title,
            [("p", p) for p in paragraphs],
        )
    for lang, text in FOREIGN.items():
        paras = [" ".join(p.split()) for p in text.strip().split("\n\n")]
        for k, group in enumerate((paras[:2], paras[2:3], paras[3:])):
            title = group[0].split(",")[0].split(".")[0][:60]
            uri = add(
                "non_english",
                LANG_SITES[lang],
                f"{k}-{_slug(title)}.html",
                title,
                [("p", p) for p in group],
            )
            expected["languages"][uri] = lang
    for path, lang, codec, header, meta, text in CHARSET_PAGES:
        uri = f"https://{LANG_SITES[lang].host}.example/{path}.html"
        page = _html(LANG_SITES[lang], text.split(".")[0][:50], [("p", text)], charset=meta)
        pages.append(
            (uri, page.encode(codec), f"text/html; charset={header}" if header else "text/html")
        )
        expected["categories"]["charset"].append(uri)
        expected["languages"][uri] = lang
        expected["charsets"][uri] = {"encoding": codec, "header": header, "meta": meta}
    for path, body, ctype in (
        ("logo.png", _png(), "image/png"),
        ("brochure.pdf", PDF, "application/pdf"),
    ):
        pages.append((f"https://pyguide.example/static/{path}", body, ctype))
        expected["categories"]["non_html"].append(pages[-1][0])
    pages.append(("https://codenotes.example/drafts/empty.html", b"", utf8))
    expected["categories"]["empty"].append(pages[-1][0])
    add("empty", EN_SITES[2], "tag/misc.html", "Misc", None)

    # Interleave categories the way a crawl would, deterministically.
    rng.shuffle(pages)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = SamplePaths(
        out_dir / "sample.warc.gz",
        out_dir / "sample_benchmark.jsonl",
        out_dir / "sample_reference.txt",
        out_dir / "sample_negative.jsonl",
        out_dir / "sample_expected.json",
    )
    with paths.warc.open("wb") as out:
        _write_warc(out, pages)
    paths.benchmark.write_text(
        "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8"
    )
    taken = set().union(*(_ngrams(p) for role in claimed.values() for _t, _h, p in role))
    reference = [p for _t, _h, p in claimed["ref"]] + _docstring_paragraphs(taken)
    paths.reference.write_text("".join(p + "\n" for p in reference), encoding="utf-8")
    negatives = crawl_pages(random.Random(f"negatives:{seed}"), N_NEGATIVES)
    paths.negative.write_text(
        "".join(json.dumps({"text": "\n".join([t, *ps])}) + "\n" for t, ps in negatives),
        encoding="utf-8",
    )
    paths.expected.write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the gristmill demo sample.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in vars(write_sample(args.out_dir, args.seed)).values():
        print(path)


if __name__ == "__main__":
    main()
