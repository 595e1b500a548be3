"""Conversational glue of the curriculum: greetings, reactions, support, requests, corrections.

These build the turns a memory gate should drop (social talk, generic requests, assistant filler),
the wrappers that real dialogue puts around facts ("Hey Mel! Guess what? …  How about you?"), and
the replies that do or do not correct an assistant.
"""

from __future__ import annotations

__all__ = [
    "ACKS",
    "ASSISTANT",
    "BARE_ACKS",
    "BARE_CORRECTION_CORES",
    "BARE_CORRECTION_OPENERS",
    "CLOSERS",
    "COMMENTS",
    "CONFIRMATIONS",
    "CORRECTIONS",
    "EMOTION_TAILS",
    "GREETINGS",
    "HEDGES",
    "NON_CORRECTIONS",
    "OFFERS",
    "OFFER_REPLIES",
    "OPENERS",
    "POLITE_REPLIES",
    "QUESTIONS",
    "REACTIONS",
    "REQUESTS",
    "REQUEST_FILL",
    "SHORT_FIXES",
    "SUPPORT",
    "TAILS",
    "THANKS",
    "TOPIC_REACTIONS",
]

GREETINGS = (
    "Hey {name}!", "Hi {name}, long time no see!", "Good morning!", "Hey! How's it going?", "Hello there!",
    "Hey {name}, good to see you!", "Hi! How have you been?", "Hey {name}, what's up?", "Morning, {name}!",
    "Hey hey!", "Hi {name}! Hope you're doing well.", "Yo {name}!", "Hey {name}, it's been a while!",
    "Hello {name}, how was your week?", "Hi there, {name}!", "Evening, {name}!",
)  # fmt: skip
REACTIONS = (
    "Wow", "Oh wow", "Whoa", "Aww", "Oh nice", "Nice", "Cool", "Awesome", "Amazing", "That's great", "That's so cool",
    "No way", "Haha", "Yay", "Congrats", "Congratulations", "Oh no", "Ugh, sorry to hear that", "I'm so sorry",
    "Omg", "Sweet", "Lovely", "Ooh", "That's awesome", "Wow, that's wild", "Oh, that's wonderful",
)  # fmt: skip
COMMENTS = (
    "That sounds amazing.", "That must have been so much fun.", "I'm so happy for you.", "You totally deserve it.",
    "That's really inspiring.", "I can only imagine how that felt.", "What an experience!", "That's such a great idea.",
    "You're doing a great job.", "That sounds tough.", "Sending you good vibes.", "It's so important to take care of yourself.",
    "Family is everything.", "Nature really is the best therapy.", "Art is such a great way to express yourself.",
    "It's great that you have people who support you.", "Life can be crazy sometimes.", "That's the spirit!",
    "Small wins count too.", "It's amazing how much joy little things bring.", "That must feel so rewarding.",
    "Good for you!", "That's a big step.", "You should be proud of yourself.", "It sounds like you had a blast.",
    "Friends make everything better.", "It's nice to slow down once in a while.", "That sounds like a lot of work.",
    "Everyone needs a break now and then.", "Music really brings people together.", "Traveling opens your mind.",
    "Pets really make a house a home.", "It's never too late to learn something new.", "Hard work pays off.",
)  # fmt: skip
TOPIC_REACTIONS = (
    "{react}, {topic} sounds so fun!", "{react}! I've always wanted to try {topic}.", "{topic}? That's so cool!",
    "{react}, {topic} must be amazing.", "I've heard great things about {topic}.", "{topic} sounds like a blast.",
    "{react}! How was {topic}?", "{react}, I love {topic} too!", "{topic} is so relaxing, isn't it?",
)  # fmt: skip
QUESTIONS = (
    "How did it go?", "What inspired you?", "Tell me more!", "How are you feeling about it?", "What was the best part?",
    "How long have you been doing that?", "Any plans for the weekend?", "What about you?", "How's everything going?",
    "Did you have fun?", "Where did you go?", "How's the family?", "What's new with you?", "Was it hard?",
    "How do you manage it all?", "What made you decide that?", "Any news on your side?", "How was your weekend?",
    "What are you up to these days?", "How are things at work?", "Did you get any pictures?", "What's next for you?",
)  # fmt: skip
SUPPORT = (
    "You got this!", "I'm here for you.", "Keep it up!", "Hang in there.", "Let me know if you need anything.",
    "Can't wait to hear more.", "Keep me posted!", "I believe in you.", "Proud of you!", "Good luck!",
    "You'll do great.", "Take it one step at a time.", "Don't be too hard on yourself.",
)  # fmt: skip
CLOSERS = (
    "Talk soon!", "Bye!", "See you later!", "Have a great day!", "Catch you later!", "Take care and talk soon!",
    "Gotta run, bye!", "Good night!", "See ya!", "Take care!", "Chat later!", "Have a good one!",
)  # fmt: skip
THANKS = (
    "Thanks, {name}!", "Thank you so much!", "Thanks for the support, I really appreciate it.", "Aw thanks, that means a lot.",
    "Cheers!", "Appreciate it!", "Thanks for listening.", "Thanks, you're the best!", "Thank you, {name}. Your support means a lot.",
    "Thanks for asking!", "No worries!", "No problem at all!",
)  # fmt: skip
ACKS = (
    "Yeah, totally.", "Sure thing!", "Absolutely!", "Haha, true.", "Exactly!", "Same here.", "Got it.", "Sounds good!",
    "Okay!", "lol", "Right?", "For sure!", "Agreed.", "Haha yes.", "Mhm.", "Definitely!", "I know, right?", "True that.",
    "Totally agree.", "Ha, fair enough.",
)  # fmt: skip
OPENERS = (
    "", "", "", "Oh, by the way, ", "Guess what? ", "Funny you ask, ", "So, ", "Honestly, ", "Not sure if I told you, but ",
    "Haha, ", "Well, ", "Ah, ", "Hey {name}! ", "Thanks, {name}! ", "Yeah! ", "Oh, ", "Big news: ", "Fun fact: ",
    "Wow, thanks! ", "Anyway, ", "Speaking of which, ", "Good question. ", "Hey! ", "Yes! ",
)  # fmt: skip
TAILS = (
    "", "", "", " How about you?", " What do you think?", " It's been great.", " Anyway, how are you?", " Crazy, right?",
    " Have you ever tried it?", " Just wanted to share!", " It's been a wild ride.", " Can't complain!",
    " Can you suggest some tips for that?", " Could you help me plan around that?", " Any advice?",
)  # fmt: skip
EMOTION_TAILS = (
    " I'm so excited!", " It was heartbreaking.", " I was so nervous.", " I'm really proud of it.",
    " It's been really hard on me.", " I'm thrilled!", " Honestly I'm a bit scared.", " It made me so happy.",
    " I cried a little, not gonna lie.", " I'm still upset about it.",
)  # fmt: skip
HEDGES = ("I think ", "Maybe ", "I'm not sure, but ", "Probably ", "I guess ", "If I remember right, ")
REQUESTS = (
    "Can you recommend {thing}?", "What are some good {thing}?", "Could you explain how {topic} works?",
    "Any tips for {activity}?", "How do I {task}?", "Write me a short poem about {topic}.",
    "What's the difference between {topic} and {topic2}?", "Can you give me a recipe for {dish}?",
    "Could you summarize the history of {topic}?", "What should I know about {topic}?",
    "Give me a list of {thing}.", "How long does it take to {task}?", "Is it better to {task} in the morning or evening?",
)  # fmt: skip
REQUEST_FILL = {
    "thing": (
        "podcasts about history",
        "books for a long flight",
        "board games for two",
        "easy houseplants",
        "documentaries about space",
        "apps for budgeting",
        "stretches for back pain",
        "gift ideas under $50",
        "healthy snacks",
        "weekend getaway ideas",
        "productivity tools",
        "sci-fi novels",
    ),
    "topic": (
        "compound interest",
        "photosynthesis",
        "blockchain",
        "the Roman empire",
        "jazz",
        "machine learning",
        "sourdough fermentation",
        "black holes",
        "climate change",
        "the stock market",
        "meditation",
        "impressionism",
    ),
    "topic2": ("simple interest", "respiration", "databases", "the Greek city states", "blues", "statistics"),
    "activity": (
        "public speaking",
        "learning to code",
        "running in the heat",
        "saving money",
        "studying for exams",
        "sleeping better",
        "taking better photos",
        "traveling on a budget",
    ),
    "task": (
        "make cold brew",
        "change a tire",
        "improve my posture",
        "write a cover letter",
        "clean a cast iron pan",
        "memorize vocabulary",
        "fix a leaky faucet",
        "train for a 5k",
    ),
    "dish": ("banana bread", "vegetable curry", "pancakes", "lentil soup", "guacamole", "tiramisu"),
}
ASSISTANT = (
    "Here are some tips that might help: start small and stay consistent.", "Great question! There are a few things to consider.",
    "I'm sorry to hear that. Would you like some suggestions?", "That sounds like a wonderful plan!",
    "Sure! Here's a quick overview to get you started.", "Welcome! How are you settling in?",
    "Of course. Let me know if you'd like more details.", "Happy to help with that.",
    "That's a common question. The short answer is: it depends.", "Here's a simple recipe you can try tonight.",
    "I hope this helps! Anything else?", "Absolutely, here are five ideas.", "Good luck, you'll do great!",
)  # fmt: skip
CORRECTIONS = (
    "No, {fix}", "That's not right, {fix}", "Actually, {fix}", "Wrong! {fix}", "Hmm, I think you're mixing things up. {fix}",
    "No no, {fix}", "You've got that wrong: {fix}", "Not quite. {fix}", "Nope, {fix}", "That's incorrect, {fix}",
    "I never said that. {fix}", "Wait, that's not what I told you. {fix}", "You're confusing me with someone else, {fix}",
    "Sorry, but no: {fix}", "Hold on, {fix}", "That's wrong, {fix}", "{fix} Not what you said.", "Uh, no. {fix}",
    "Correction: {fix}", "As I told you before, {fix}", "You misremembered, {fix}", "That was my old situation, {fix}",
)  # fmt: skip
NON_CORRECTIONS = (
    "Thanks, that's helpful!", "Yes, exactly.", "Perfect, thank you.", "Right, and {more}", "No worries, thanks!",
    "No, that's all for now, thanks.", "Actually, could you also suggest {thing}?", "Nope, nothing else. Thanks!",
    "Yes, that's right.", "What else would you recommend?", "Wait, how long does that take?", "Great, I'll try that.",
    "Sounds good to me.", "Haha yes, that's me.", "Correct! {more}", "Exactly, you remembered!", "Good point.",
    "By the way, {other}", "Can you make it shorter?", "Love it, thanks!", "Hmm, interesting. Tell me more.",
    "No, I haven't tried that yet. Is it good?", "Actually that sounds perfect.", "Not yet, but I will.",
    "Yes! And {more}", "That helps a lot, thank you.", "Could you give me another example?", "Okay, noted.",
)  # fmt: skip

# -- bare acknowledgements: a gate drops them whatever the turn before said -------------------------
BARE_ACKS = (
    "ok", "ok thanks", "cool", "lol", "haha", "thanks!", "sounds good", "bye", "okay", "k", "ok cool", "nice",
    "great", "got it", "alright", "thank you!", "hahaha", "lol ok", "ok great", "cool cool", "thx", "oh ok", "ah ok",
    "noted", "sounds great!", "see ya", "perfect", "awesome, thanks", "kk", "ty", "good night!", "ok will do",
    "haha nice", "hmm ok", "later!", "oh nice", "yay", "wow", "cheers", "ok bye", "np", "thanks a lot", "lmao",
    "all good", "cool, thanks", "okie", "bye!", "sweet", "hehe", "ok, got it", "awesome", "nice one", "take care",
)  # fmt: skip

# -- corrections with nothing but the correction, and replies that only look like one ---------------
BARE_CORRECTION_OPENERS = ("", "", "", "No, ", "Nope, ", "Hmm, ", "Um, ", "Sorry, but ", "Wait, ", "Uh, ", "Nah, ", "Erm, ")
BARE_CORRECTION_CORES = (
    "that's wrong", "that's not right", "that's incorrect", "not quite", "you got that wrong", "that isn't what I said",
    "I never said that", "that's not correct", "that's not true", "wrong", "no", "you've got it wrong",
    "that's not what I told you", "I didn't say that", "you're mistaken", "nope", "that isn't right", "not really",
    "that's not it", "you're wrong about that", "where did you get that", "you're mixing things up", "incorrect",
    "I don't think I said that", "not even close", "that's a mistake", "you misheard me", "that isn't true",
    "not exactly", "wrong again", "you've mixed that up", "that was never the case", "that's not how it is",
    "no, that's off", "you remembered that wrong", "that's not accurate",
)  # fmt: skip
SHORT_FIXES = (
    "Actually it's {v}.", "Nope, it's {v}.", "No, {v}.", "It's {v}, actually.", "Actually, {v}.", "Wrong, it's {v}.",
    "{v}, not {o}.", "Not {o}. {v}.", "Nah, {v}.", "Hmm, no, it's {v}.", "It's actually {v}.", "No, it is {v}.",
    "Actually {v}, not {o}.", "Nope: {v}.", "Not {o}, {v}.", "Erm, it's {v}.", "Actually it was {v}.", "No! {v}.",
)  # fmt: skip
CONFIRMATIONS = (
    "That's right!", "Yes, that's right.", "Correct.", "Yep, exactly.", "Exactly right!", "Yes, it's {v}.",
    "Right, {v}.", "Spot on.", "You got it!", "You're right.", "Yes!", "That's correct, thanks.", "Yep!",
    "Thanks, that's correct!", "True!", "Yes, {v}, you remembered.", "Yup, that's it.", "Yes exactly!",
    "Right.", "That's it, {v}!", "Yes, that's correct.", "Exactly.", "Yep, {v}.", "Indeed!",
)  # fmt: skip
POLITE_REPLIES = (
    "No worries!", "No problem.", "No problem at all, thanks.", "Nothing else, thank you.", "No, that's all.",
    "Nope, that's it for today.", "No thanks, I'm good.", "Not right now, thanks.", "All good, thanks!",
    "Cool, thanks.", "Ok thanks", "Thank you!", "Great!", "Nice, thanks!", "Not bad at all!", "No, that's perfect.",
    "That works!", "Nope, all good!", "No need, thanks.", "Never mind, it's fine.", "No, you're fine!",
    "Nothing more, thanks!", "No worries at all.", "Ok, sounds good.", "No complaints here!", "Nope, that covers it.",
)  # fmt: skip
OFFERS = (
    "Is there anything else I can help with?", "Would you like more suggestions?", "Shall I set a reminder for that?",
    "Do you want the full recipe too?", "Need anything else?", "Want me to look up flights as well?",
    "Should I make it longer?", "Would you like a packing list too?", "Do you want me to add it to your calendar?",
    "Shall I find more options?", "Anything else on your mind?", "Would a summary help?",
)  # fmt: skip
OFFER_REPLIES = (
    "No.", "Nope.", "No, thanks.", "Not now.", "No, I'm all set.", "No thank you!", "Nah, I'm good.", "No, that's fine.",
    "Not today, thanks.", "No, that's enough.", "Nope, all set!", "No need.",
)  # fmt: skip
