"""The Organization Service (SOAP, `/XRMServices/2011/Organization.svc`) of the emulator's
on-premise organisations: CRM 2013/2015 have no Web API, CRM 2016 keeps it alongside
(docs/organization-service.md). Plain Python, like the rest of the emulator."""
