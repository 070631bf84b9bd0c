require ["reject", "imap4flags"];
if exists "list-id" { reject text:
Please do not send list mail here.
.
;
}
addflag "$Checked";
