"""Slip printers: a printer-neutral slip document, its ESC/POS rendering, and the printer device."""
