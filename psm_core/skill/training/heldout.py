"""A hand-written held-out set for correction detection, never used in training.

Written independently of the curriculum templates: real-sounding replies to an assistant, some
correcting it (wrong fact, wrong memory, misunderstood request) and many hard negatives that start
with "no", "actually" or "wait" without correcting anything.
"""

from __future__ import annotations

__all__ = ["CORRECTION_SET"]

# (user turn, previous assistant answer, is it a correction?)
CORRECTION_SET: tuple[tuple[str, str, bool], ...] = (
    ("No, my daughter is eight, not six.", "For a six-year-old, these puzzles are a great fit.", True),
    ("You've got the date wrong, the wedding is on the 14th.", "Since the wedding is on the 4th, book the hotel now.", True),
    ("Hmm, I don't have a cat. It's my roommate's.", "Your cat might enjoy this scratching post.", True),
    ("That's not my job anymore, I left the bank in March.", "As a bank teller, you could ask HR about it.", True),
    ("I'm allergic to shellfish, so that paella won't work.", "Try this seafood paella tonight!", True),
    ("Actually I said Porto, not Lisbon.", "Here are three restaurants in Lisbon near your hotel.", True),
    ("Wrong person — Jake is my cousin, my brother is Ben.", "Your brother Jake will love this gift.", True),
    ("I never told you I was vegan. I eat fish.", "As a vegan, you might like these recipes.", True),
    ("No no, the meeting is Thursday, not Tuesday.", "I've noted your meeting for Tuesday.", True),
    ("That was last year. I moved to Denver in June.", "Since you live in Austin, it's hot this week.", True),
    ("Nope, I drive a Subaru now, I sold the Civic.", "For your Honda Civic, these tires fit.", True),
    ("You mixed it up: I play cello, my sister plays violin.", "As a violinist, you'll like this piece.", True),
    ("It's 25 postcards now, not 17.", "You have 17 postcards in your collection.", True),
    ("I asked for a vegetarian lasagna, this has beef in it.", "Here's a classic beef lasagna recipe.", True),
    ("That's not right. My flight lands at 9pm, not 9am.", "You land at 9am, so you can check in at noon.", True),
    ("You're thinking of my old apartment; the new one has no balcony.", "You could put herbs on your balcony.", True),
    ("Uh, I'm not pregnant. That was my sister.", "Congratulations again on the pregnancy!", True),
    ("My son plays hockey, not soccer.", "Here are cleats for your son's soccer season.", True),
    (
        "I stopped taking that medication months ago, please don't assume I'm on it.",
        "Since you take lisinopril, avoid grapefruit.",
        True,
    ),
    ("Not Sarah — her name is Sara, without the h.", "Say hi to Sarah for me!", True),
    ("That's incorrect, I graduated in 2019.", "Since you graduated in 2021, you're still eligible.", True),
    ("I don't work from home, I'm at the office every day.", "Since you work from home, a standing desk helps.", True),
    ("Wait, I told you I'm gluten-free. Croissants are out.", "Grab a croissant on the way!", True),
    ("Nah, it's the blue one I bought, the red one was returned.", "Enjoy your new red jacket!", True),
    ("That's wrong, we have two dogs, Max and Daisy.", "How is your dog Max doing?", True),
    ("Thanks, that's perfect!", "Here's a packing list for your trip to Iceland.", False),
    ("No, that's everything for today. Thank you!", "Is there anything else I can help with?", False),
    ("Actually, could you make it a bit shorter?", "Here's a 500-word cover letter draft.", False),
    ("Wait, how long should it rest before slicing?", "Bake the bread for 40 minutes at 220°C.", False),
    ("No worries at all, take your time.", "Sorry, I misunderstood your earlier message.", False),
    ("Yes, Max is doing great, he loved the beach!", "How is your dog Max doing?", False),
    ("Nope, haven't tried it yet. Is it spicy?", "Have you tried the new Thai place?", False),
    ("Right, and she also loves surfing.", "Your sister Mia is visiting next week, right?", False),
    ("Exactly, you remembered!", "You're vegetarian, so I picked meat-free options.", False),
    ("Actually that sounds great, let's do it.", "Maybe try a weekend in the mountains?", False),
    ("No, I'm fine, just tired today.", "Are you feeling sick?", False),
    ("Hmm, interesting. What else could I try?", "Stretching before bed can help you sleep.", False),
    ("Can you also add a dessert?", "Here's a three-course menu without dessert.", False),
    ("Oh nice, I didn't know that!", "Octopuses have three hearts.", False),
    ("By the way, my sister is visiting next weekend.", "Here are some weekend plans for Lisbon.", False),
    ("Yes, exactly the one in Porto.", "You mean the bookstore in Porto?", False),
    ("No, I don't need a car there.", "Do you want me to look up car rentals?", False),
    ("Correct, 25 postcards and counting!", "You have 25 postcards now, right?", False),
    ("That's so helpful, thank you.", "Here's how to fix a leaky faucet.", False),
    ("Not yet, but I will this weekend.", "Did you try the recipe?", False),
    ("Sure, Thursday works for me.", "Shall we schedule it for Thursday?", False),
    ("Actually, I'd love some book suggestions too.", "Here are three podcasts about history.", False),
    ("Hold on, let me check my calendar.", "Does 3pm work for you?", False),
    ("I guess so, I'll think about it.", "Maybe you could ask your manager for a raise.", False),
    ("Haha yes, that's me, always late.", "You mentioned you're often running late.", False),
)
