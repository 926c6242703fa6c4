"""Crawl-like pages of the kind GPT-3's classifier learns to leave out, generated for the demo.

GPT-3 trained its quality classifier on curated text (positive) against raw Common Crawl
(negative). The demo has the curated side (the Python reference prose of ``sample_warc``) but may
not ship crawl text, so this module writes its stand-in: shop listings, coupon pages, listicles,
clickbait, forum chatter, local-business and classified ads, recipe-blog preambles, with the chrome
around them (cookie banners, share bars, newsletter prompts). Every page is grammatical English
in sentences, long enough for Gopher's and C4's rules, so what removes it in the demo is the
classifier, as on a real crawl.

Two uses, from separate random streams: ``sample_negative.jsonl`` trains the demo's classifier,
and a few pages planted in the sample WARC (category ``low_quality``) show what it removes.
"""

from __future__ import annotations

import random
from collections.abc import Callable

PRODUCTS = (
    "wireless earbuds", "running shoes", "air fryer", "gaming chair", "phone case", "yoga mat",
    "smart watch", "coffee maker", "LED strip lights", "backpack", "hair dryer", "robot vacuum",
    "bluetooth speaker", "electric toothbrush", "standing desk", "car seat cover", "face serum",
)  # fmt: skip
BRANDS = ("Zentro", "Lumix Pro", "Nordvik", "AeroMax", "Kallo", "Vireo", "Bexley", "Tornado X")
ADJECTIVES = (
    "amazing", "premium", "ultra soft", "best selling", "top rated", "affordable", "stylish",
    "lightweight", "heavy duty", "waterproof", "must have", "limited edition", "trending",
)  # fmt: skip
CITIES = (
    "Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Clinton", "Franklin",
    "Greenville", "Bristol", "Oakland", "Salem", "Dover", "Ashland", "Milton",
)  # fmt: skip
SERVICES = (
    "plumbing", "roofing", "carpet cleaning", "dental care", "auto repair", "tax preparation",
    "pest control", "moving", "hair salon", "dog grooming", "locksmith", "wedding photography",
)  # fmt: skip
STORES = ("ShopMart", "DealZone", "MegaSaver", "BuyRight", "StyleHub", "HomeGoodsPlus")
CELEBS = ("the reality star", "the pop singer", "the former quarterback", "the famous chef",
          "the actress", "the billionaire", "the influencer", "the talk show host")  # fmt: skip
EVENTS = ("the awards show", "the red carpet", "a charity gala", "the season finale",
          "a beach party", "the premiere", "a live stream", "the wedding")  # fmt: skip
DISHES = ("chicken casserole", "banana bread", "taco soup", "pumpkin pie", "lasagna",
          "chocolate chip cookies", "pot roast", "mac and cheese", "smoothie bowl")  # fmt: skip
USERS = ("mike_77", "sunnygirl", "xXgamerXx", "dave_k", "lovelylady22", "bigfan01", "tom_r")
TOPICS = ("my router keeps dropping", "best budget phone", "car makes a weird noise",
          "printer not working", "lost my password", "which laptop to buy")  # fmt: skip
MONTHS = ("January", "March", "May", "July", "September", "November", "December")


def _pick(rng: random.Random, words: tuple[str, ...]) -> str:
    return rng.choice(words)


def _shop(rng: random.Random) -> list[str]:
    p, b = _pick(rng, PRODUCTS), _pick(rng, BRANDS)
    price, was = rng.randint(9, 199), rng.randint(200, 399)
    return [
        f"Buy the {b} {_pick(rng, ADJECTIVES)} {p} online at the lowest price. Now only "
        f"${price}.99, was ${was}.99. Hurry, only {rng.randint(2, 9)} left in stock! Free "
        f"shipping on all orders over ${rng.choice((25, 35, 50))}.",
        f"This {_pick(rng, ADJECTIVES)} {p} is perfect for everyone and makes a great gift. "
        f"Available in black, white, rose gold and navy. Order today and get it by "
        f"{_pick(rng, ('Monday', 'Tuesday', 'Friday'))}. Rated {rng.randint(40, 49) / 10} out of "
        f"5 stars by {rng.randint(120, 9800)} happy customers.",
        f"Customers who bought this item also bought the {_pick(rng, BRANDS)} "
        f"{_pick(rng, PRODUCTS)} and the {_pick(rng, BRANDS)} {_pick(rng, PRODUCTS)}. Add to "
        "cart now and save an extra ten percent with code SAVE10 at checkout. Sign in to see "
        "your personal deals and the recommendations we picked for you based on what other "
        "shoppers like you have been looking at this week.",
    ]


def _coupon(rng: random.Random) -> list[str]:
    s, m, y = _pick(rng, STORES), _pick(rng, MONTHS), rng.choice((2023, 2024))
    return [
        f"{s} coupon codes for {m} {y}. Save up to {rng.randint(20, 80)}% off with our "
        f"{rng.randint(12, 48)} verified promo codes and deals. Today's top deal is a big "
        "discount on your entire order, and there are more great offers waiting for you below "
        "if you keep on scrolling down the page.",
        f"Click the get code button to reveal the coupon and copy it. Paste the code at checkout "
        f"on the {s} website and enjoy your savings. This offer expires soon, so do not wait. "
        f"Last used {rng.randint(2, 59)} minutes ago by a happy shopper.",
        "Never miss a deal again! Sign up for our newsletter and get the best coupons delivered "
        "straight to your inbox every week. We may earn a commission when you buy through our "
        "links.",
    ]


def _listicle(rng: random.Random) -> list[str]:
    p, n = _pick(rng, PRODUCTS), rng.choice((5, 7, 10, 12))
    return [
        f"Top {n} best {p}s of {rng.choice((2023, 2024))}, reviewed and ranked. Looking for the "
        f"best {p}? You have come to the right place. We spent hours researching so you do not "
        "have to.",
        f"Our number one pick is the {_pick(rng, BRANDS)} {p}. It is {_pick(rng, ADJECTIVES)}, "
        f"easy to use and a great value for the money. Check the latest price on Amazon. The "
        f"runner up is the {_pick(rng, BRANDS)}, which is also {_pick(rng, ADJECTIVES)}.",
        f"Before you buy a {p}, there are a few things to keep in mind. Price, quality and "
        "reviews are very important. In conclusion, any of these products would be a great "
        "choice. As an Amazon Associate we earn from qualifying purchases.",
    ]


def _clickbait(rng: random.Random) -> list[str]:
    c, e = _pick(rng, CELEBS), _pick(rng, EVENTS)
    return [
        f"You will not believe what {c} did at {e} last night! Fans were totally shocked and "
        f"the internet cannot stop talking about it. Scroll down to see the photos everyone is "
        "sharing.",
        f"Sources close to {c} say it was the moment of the year. Number {rng.randint(3, 9)} "
        "will leave you speechless! Do not forget to like and share this story with your "
        "friends.",
        f"Read more: {rng.randint(10, 25)} celebrities who look totally different now. Trending "
        f"now: what {_pick(rng, CELEBS)} said about {_pick(rng, EVENTS)}. Advertisement.",
    ]


def _forum(rng: random.Random) -> list[str]:
    t, u1, u2 = _pick(rng, TOPICS), _pick(rng, USERS), _pick(rng, USERS)
    return [
        f"Re: {t}. Posted by {u1} on {_pick(rng, MONTHS)} {rng.randint(1, 28)}. Hey guys, I have "
        "the same problem lol. Did anyone ever find a fix for this? It is driving me crazy and "
        "I really do not know what else I can do about it, so any help would be great.",
        f"Quote from {u2}: have you tried turning it off and on again? That worked for me last "
        "time. Thanks a lot!! I will try that tonight and let you know. Bump, still need help "
        "with this.",
        "You must be logged in to reply to this topic. Sign up now, it only takes a minute and "
        f"you can join the other members who have been here since {rng.choice((2011, 2015))} "
        "talking about all kinds of things.",
    ]


def _local(rng: random.Random) -> list[str]:
    s, c = _pick(rng, SERVICES), _pick(rng, CITIES)
    phone = f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    return [
        f"Looking for the best {s} in {c}? We are the number one rated {s} company in {c} and "
        f"the surrounding areas. Call us today at {phone} for a free estimate.",
        f"We have been serving {c} for over {rng.randint(5, 40)} years. Our friendly staff is "
        "licensed, insured and ready to help. We are open Monday through Saturday from eight "
        "in the morning to six in the evening.",
        f"Five stars! Great service and fair prices, highly recommend, said a customer from "
        f"{_pick(rng, CITIES)}. Book your appointment online or stop by our office. Financing "
        "available.",
    ]


def _recipe(rng: random.Random) -> list[str]:
    d = _pick(rng, DISHES)
    return [
        f"This easy {d} recipe is the best you will ever make! My family asks for it every "
        "single week. Pin it now so you can find it later. Jump to recipe.",
        f"Fall is finally here and I am so excited to share this {d} with you. Before we get "
        "started, make sure to subscribe to my newsletter for more yummy recipes. This post "
        "may contain affiliate links.",
        f"I love this {d} because it is quick, cheap and so delicious. If you make it, leave a "
        "comment and rate it five stars below. Tag me on social media so I can see your "
        "creations!",
    ]


def _classified(rng: random.Random) -> list[str]:
    c = _pick(rng, CITIES)
    beds, price = rng.randint(2, 5), rng.randint(180, 890)
    return [
        f"Beautiful {beds} bedroom house for sale in {c}. Priced to sell at ${price},000. "
        "Updated kitchen, new roof, large backyard and a two car garage. This one will not last "
        "long, so call the agent today and ask about the open house this weekend.",
        f"We are hiring! Part time and full time positions available in {c}. Earn up to "
        f"${rng.randint(18, 45)} per hour working from home. No experience needed. Apply now "
        "and start today.",
        f"Used {_pick(rng, BRANDS)} {_pick(rng, PRODUCTS)} for sale, like new, barely used. "
        "Pick up only and cash only. Serious buyers please and no lowballers. Message me for "
        "more details or if you want to come and see it in person at the weekend.",
    ]


KINDS: tuple[Callable[[random.Random], list[str]], ...] = (
    _shop, _coupon, _listicle, _clickbait, _forum, _local, _recipe, _classified,
)  # fmt: skip
CHROME = (
    "We use cookies to improve your experience. By using this site you accept our cookie policy.",
    "Share this on Facebook, Twitter and Pinterest. Follow us for more!",
    "Subscribe to our newsletter and never miss an update. Enter your email address below.",
    "Related posts you might also like. Leave a comment. Your email will not be published.",
    "Copyright all rights reserved. Terms of service. Privacy policy. Contact us.",
)


def crawl_page(rng: random.Random) -> tuple[str, list[str]]:
    """(title, paragraphs) of one page: two kinds of content mixed, as pages mix them, and a
    line or two of chrome."""
    first, second = rng.sample(KINDS, 2)
    paragraphs = first(rng) + rng.sample(second(rng), 2)
    paragraphs += rng.sample(CHROME, rng.randint(1, 2))
    title = paragraphs[0].split(".")[0].split("!")[0].split("?")[0][:70]
    return title, paragraphs


def crawl_pages(rng: random.Random, n: int) -> list[tuple[str, list[str]]]:
    return [crawl_page(rng) for _ in range(n)]
