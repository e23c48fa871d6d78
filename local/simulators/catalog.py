"""The seed catalog of the local stack: a handful of products with realistic names, prices and stock."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CatalogProduct:
    sku: str
    name: str
    priceCents: int  # noqa: N815 - stored as the table's attribute names
    currency: str
    stock: int


SEED_CATALOG: tuple[CatalogProduct, ...] = (
    CatalogProduct("KB-TKL-01", "Tenkeyless Mechanical Keyboard", 8999, "USD", 40),
    CatalogProduct("MS-ERGO-02", "Ergonomic Wireless Mouse", 3999, "USD", 60),
    CatalogProduct("MON-27-4K", '27" 4K IPS Monitor', 32900, "USD", 12),
    CatalogProduct("HUB-USBC-7", "7-in-1 USB-C Hub", 4999, "USD", 80),
    CatalogProduct("CBL-USBC-2M", "Braided USB-C Cable, 2 m", 1299, "USD", 250),
    CatalogProduct("LAMP-LED-DSK", "Dimmable LED Desk Lamp", 3499, "USD", 30),
    CatalogProduct("STAND-ALU-LT", "Aluminium Laptop Stand", 4599, "USD", 25),
    CatalogProduct("HDST-ANC-BT", "Noise-Cancelling Bluetooth Headset", 14900, "USD", 3),
)


SAMPLE_ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postalCode": "NW1 6XE",
    "country": "GB",
}
"""The shipping address of the examples: the banner's curl, the CLI's defaults, the tests' sample order."""


def catalog_items(products: tuple[CatalogProduct, ...] = SEED_CATALOG) -> list[dict]:
    return [asdict(product) for product in products]
