#!/usr/bin/env python3
"""A realistic day for the demo: marketing and sales work the same accounts through their
gRPC APIs, and the alignment service finds where they collide. Every call is a real gRPC
call with a deadline; nothing is written to Kafka directly.

    scenario.py [--marketing 127.0.0.1:50051] [--sales 127.0.0.1:50052] [--pace SECONDS]
"""
import argparse
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "python"))
import concord_proto  # noqa: E402

concord_proto.load()
from concord.events.v1 import common_pb2 as c  # noqa: E402
from concord.events.v1 import events_pb2 as ev  # noqa: E402
from concord.marketing.v1 import marketing_pb2 as mk, marketing_pb2_grpc as mk_grpc  # noqa: E402
from concord.sales.v1 import sales_pb2 as sl, sales_pb2_grpc as sl_grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

DEADLINE = 5.0
MARKETER = c.Actor(team=c.TEAM_MARKETING, id="mkt-ana", display_name="Ana (Marketing)")
NURTURE_BOT = c.Actor(team=c.TEAM_MARKETING, id="mkt-automation", display_name="Nurture automation")
REP_LI = c.Actor(team=c.TEAM_SALES, id="rep-li", display_name="Li (Sales)")
REP_SAM = c.Actor(team=c.TEAM_SALES, id="rep-sam", display_name="Sam (Sales)")


def rid() -> str:
    return str(uuid.uuid4())


def ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def usd(amount: float) -> c.Money:
    units = int(amount)
    return c.Money(currency_code="USD", units=units, nanos=int(round((amount - units) * 1e9)))


class Day:
    def __init__(self, marketing: str, sales: str, pace: float, suffix: str = ""):
        self.mk = mk_grpc.MarketingServiceStub(grpc.insecure_channel(marketing))
        self.sl = sl_grpc.SalesServiceStub(grpc.insecure_channel(sales))
        self.pace = pace
        self.suffix = suffix

    def d(self, domain: str) -> str:
        """The scenario's company domains; a suffix keeps repeated runs apart (tests)."""
        if not self.suffix:
            return domain
        name, _, tld = domain.rpartition(".")
        return f"{name}-{self.suffix}.{tld}"

    def step(self, who: str, what: str):
        print(f"scenario: {who:<9} {what}", flush=True)
        time.sleep(self.pace)

    def run(self):
        now = datetime.now(timezone.utc)
        spring = self.mk.CreateCampaign(mk.CreateCampaignRequest(
            request_id=rid(), actor=MARKETER, name="Spring Pro promotion", channel=c.CHANNEL_EMAIL,
            purpose=c.MESSAGE_PURPOSE_PROMOTION,
            segment=c.Segment(name="Mid-market NA", criteria=c.SegmentCriteria(
                regions=["NA"], lifecycle_stages=[c.LIFECYCLE_STAGE_LEAD, c.LIFECYCLE_STAGE_MQL])),
            offers=[c.Offer(offer_code="SPRING20", product="concord-pro", discount_percent=20, trial_days=30,
                            valid_until=ts(now + timedelta(days=30)), text="20% off Concord Pro")],
            starts_at=ts(now), ends_at=ts(now + timedelta(days=30))), timeout=DEADLINE).campaign
        self.mk.LaunchCampaign(mk.LaunchCampaignRequest(request_id=rid(), actor=MARKETER, campaign_id=spring.id),
                               timeout=DEADLINE)
        self.step("marketing", f"launched campaign '{spring.name}' (SPRING20: 20% off Concord Pro)")

        # Globex: marketing's promise and sales' quote disagree; both teams reach out.
        lead = self.mk.CaptureLead(mk.CaptureLeadRequest(
            request_id=rid(), actor=MARKETER, source_campaign_id=spring.id, source_channel=c.CHANNEL_WEBINAR,
            person=c.PersonIdentity(first_name="Dana", last_name="Scully", email="dana.scully@" + self.d("globex.io"),
                                    phone="(415) 555-0142", company="Globex", website=self.d("globex.io"),
                                    title="CFO")), timeout=DEADLINE).lead
        self.step("marketing", "captured lead Dana Scully (CFO, globex.io) from the webinar")
        lead = self.mk.ScoreLead(mk.ScoreLeadRequest(request_id=rid(), actor=MARKETER, lead_id=lead.id, score=86,
                                                     reasons=[c.ScoreReason(code="webinar", description="attended the webinar", points=40),
                                                              c.ScoreReason(code="pricing", description="pricing page x3", points=46)]),
                                 timeout=DEADLINE).lead
        lead = self.mk.QualifyLead(mk.QualifyLeadRequest(request_id=rid(), actor=MARKETER, lead_id=lead.id,
                                                         note="budget confirmed"), timeout=DEADLINE).lead
        handoff = self.mk.HandOffLead(mk.HandOffLeadRequest(request_id=rid(), actor=MARKETER, lead_id=lead.id,
                                                            suggested_owner=REP_LI), timeout=DEADLINE)
        self.step("marketing", "scored 86, qualified as MQL and handed Dana to sales")
        self.sl.AcceptHandoff(sl.AcceptHandoffRequest(
            request_id=rid(), actor=REP_LI, handoff_id=handoff.lead.handoff.handoff_id, lead_id=lead.id,
            customer=c.CustomerRef(person=c.PersonIdentity(first_name="Dana", last_name="Scully",
                                                           email="dana.scully@" + self.d("globex.io"), company="Globex",
                                                           website=self.d("globex.io"))),
            owner=REP_LI), timeout=DEADLINE)
        self.step("sales", "Li accepted the hand-off")
        account = self.sl.CreateAccount(sl.CreateAccountRequest(
            request_id=rid(), actor=REP_LI, name="Globex", website="https://www." + self.d("globex.io"), industry="manufacturing",
            region="NA", country="US", employee_count=1200, owner=REP_LI), timeout=DEADLINE).account
        self.sl.LogActivity(sl.LogActivityRequest(
            request_id=rid(), actor=REP_LI, kind=ev.ACTIVITY_KIND_CALL,
            account_id=account.id, occurred_at=ts(datetime.now(timezone.utc)), subject="Discovery call",
            notes="Dana wants Concord Pro for 40 seats; asked about SSO."), timeout=DEADLINE)
        self.step("sales", "Li called Dana (discovery)")
        self.mk.SendMessage(mk.SendMessageRequest(
            request_id=rid(), actor=NURTURE_BOT, channel=c.CHANNEL_EMAIL, purpose=c.MESSAGE_PURPOSE_PROMOTION,
            campaign_id=spring.id, lead_id=lead.id, subject="Your 20% off Concord Pro is waiting",
            body="Hi Dana, use SPRING20 for 20% off Concord Pro, plus a 30-day free trial.",
            offers=[c.Offer(offer_code="SPRING20", product="concord-pro", discount_percent=20, trial_days=30)]),
            timeout=DEADLINE)
        self.step("marketing", "nurture email to Dana: '20% off Concord Pro'")
        self.sl.IssueQuote(sl.IssueQuoteRequest(
            request_id=rid(), actor=REP_LI, account_id=account.id, currency_code="USD",
            line_items=[c.QuoteLineItem(product="concord-pro", list_price=usd(49), unit_price=usd(44.10),
                                        quantity=40, discount_percent=10)],
            terms=c.QuoteTerms(contract_term_months=12, trial_days=14),
            valid_until=ts(datetime.now(timezone.utc) + timedelta(days=14)),
            notes="Best I can do is 10% off Pro with a 14-day trial."), timeout=DEADLINE)
        self.step("sales", "Li quoted Globex: Concord Pro at 10% off, 14-day trial")

        # Initech: a rep promises what the catalog and the price book do not allow.
        initech = self.sl.CreateAccount(sl.CreateAccountRequest(
            request_id=rid(), actor=REP_SAM, name="Initech", website=self.d("initech.com"), owner=REP_SAM),
            timeout=DEADLINE).account
        self.sl.MakeCommitment(sl.MakeCommitmentRequest(
            request_id=rid(), actor=REP_SAM, kind=ev.COMMITMENT_KIND_FEATURE, account_id=initech.id,
            product="concord-enterprise", feature="offline-mode",
            text="Offline mode is included in Enterprise today, you can roll it out next week."), timeout=DEADLINE)
        self.step("sales", "Sam told Initech 'offline mode is included' (it is on the roadmap)")
        self.sl.IssueQuote(sl.IssueQuoteRequest(
            request_id=rid(), actor=REP_SAM, account_id=initech.id, currency_code="USD",
            line_items=[c.QuoteLineItem(product="concord-enterprise", list_price=usd(1200), unit_price=usd(840),
                                        quantity=5, discount_percent=30)],
            terms=c.QuoteTerms(contract_term_months=24),
            valid_until=ts(datetime.now(timezone.utc) + timedelta(days=30))), timeout=DEADLINE)
        self.step("sales", "Sam quoted Initech Enterprise at 30% off (policy max 25%)")

        # Hooli: in negotiation with sales while marketing sends a win-back email.
        hooli = self.sl.CreateAccount(sl.CreateAccountRequest(
            request_id=rid(), actor=REP_SAM, name="Hooli", website=self.d("hooli.xyz"), owner=REP_SAM), timeout=DEADLINE).account
        opp = self.sl.CreateOpportunity(sl.CreateOpportunityRequest(
            request_id=rid(), actor=REP_SAM, account_id=hooli.id, name="Hooli Enterprise rollout",
            stage=ev.OPPORTUNITY_STAGE_PROPOSAL,
            amount=usd(72000), owner=REP_SAM), timeout=DEADLINE).opportunity
        self.sl.UpdateOpportunityStage(sl.UpdateOpportunityStageRequest(
            request_id=rid(), actor=REP_SAM, opportunity_id=opp.id, stage=ev.OPPORTUNITY_STAGE_NEGOTIATION),
            timeout=DEADLINE)
        self.step("sales", "Sam moved the Hooli opportunity to negotiation ($72k)")
        self.mk.SendMessage(mk.SendMessageRequest(
            request_id=rid(), actor=NURTURE_BOT, channel=c.CHANNEL_EMAIL, purpose=c.MESSAGE_PURPOSE_WIN_BACK,
            person=c.CustomerRef(person=c.PersonIdentity(full_name="Gavin Belson", email="gavin@" + self.d("hooli.xyz"),
                                                         website=self.d("hooli.xyz"))),
            subject="We miss you, Hooli!", body="Come back to Concord: 3 months free if you return this week."),
            timeout=DEADLINE)
        self.step("marketing", "win-back email to gavin@hooli.xyz (Hooli is mid-negotiation)")

        # Umbrella: handed off, never accepted. The SLA timer fires on its own.
        umbrella = self.mk.CaptureLead(mk.CaptureLeadRequest(
            request_id=rid(), actor=MARKETER, person=c.PersonIdentity(
                first_name="Albert", last_name="Wesker", email="a.wesker@" + self.d("umbrella-corp.com"),
                company="Umbrella", website=self.d("umbrella-corp.com"))), timeout=DEADLINE).lead
        umbrella = self.mk.QualifyLead(mk.QualifyLeadRequest(request_id=rid(), actor=MARKETER, lead_id=umbrella.id),
                                       timeout=DEADLINE).lead
        self.mk.HandOffLead(mk.HandOffLeadRequest(request_id=rid(), actor=MARKETER, lead_id=umbrella.id), timeout=DEADLINE)
        self.step("marketing", "handed Albert Wesker (umbrella-corp.com) to sales; nobody accepts it")

        # Globex again: the same person entered twice by sales.
        for first, email, phone in [("Robert", "robert.paulson@" + self.d("globex.io"), "+1 415 555 0199"),
                                    ("Bob", "bob.paulson@" + self.d("globex.io"), "415-555-0199")]:
            self.sl.CreateContact(sl.CreateContactRequest(
                request_id=rid(), actor=REP_LI, account_id=account.id,
                person=c.PersonIdentity(first_name=first, last_name="Paulson", email=email, phone=phone,
                                        company="Globex", website=self.d("globex.io"))), timeout=DEADLINE)
        self.step("sales", "Li created contacts 'Robert Paulson' and 'Bob Paulson' (same phone)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--marketing", default="127.0.0.1:50051")
    ap.add_argument("--sales", default="127.0.0.1:50052")
    ap.add_argument("--pace", type=float, default=1.0, help="seconds between steps")
    ap.add_argument("--suffix", default="", help="appended to the company domains (keeps repeated runs apart)")
    args = ap.parse_args()
    try:
        Day(args.marketing, args.sales, args.pace, args.suffix).run()
    except grpc.RpcError as e:
        print(f"scenario: call failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    print("scenario: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
