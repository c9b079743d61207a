"""`{{ label|in_sentence }}`: "as member" in English and Spanish, "als Mitglied" in German."""

from django import template

from bananasite.translations import in_sentence

register = template.Library()
register.filter("in_sentence", in_sentence)
